package main

import (
	"strings"
	"testing"
)

// rt17c F5: umbra shadow single names what it lists. With no message
// that lost its shadow copy (or had its copy on receipt not made), it
// says so in a line of its own instead of printing nothing — and says
// that mail never copied (accepted without shadow on receipt, waiting
// for its first relay) is not among what it lists; its help says the
// same.
func TestShadowSingleSaysWhatItLists(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the smart host is dead
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if ok, err := send(listen, "waits"); !ok || err != nil {
		t.Fatalf("not acknowledged: %v", err)
	}
	out, code := cli(t, cfg, "shadow", "single")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "none:") || !strings.Contains(out, "not listed") {
		t.Fatalf("shadow single (exit %d):\n%s\nwant a none: line saying what is not listed", code, out)
	}
	help, _ := cli(t, cfg, "shadow", "single", "--help")
	if !strings.Contains(help, "lost their shadow copy") || !strings.Contains(help, "not listed") {
		t.Fatalf("shadow single --help:\n%s\nwant what it lists and what not", help)
	}
}
