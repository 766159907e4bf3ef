package main

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The harness's start of a daemon whose address freeAddr picked and
// something else holds a moment (another process's connection on that
// local port, a listener on its way out) is tried again rather than
// failed: one place (startUmbraWith) for every daemon of the tests.
func TestStartUmbraRetriesAddressInUse(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	held, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	time.AfterFunc(1500*time.Millisecond, func() { held.Close() })
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	startUmbra(t, cfg, listen)
	if b, _ := os.ReadFile(cfg + ".log"); !strings.Contains(string(b), "address already in use") {
		t.Fatalf("the first start did not find its address in use (the test proves nothing):\n%s", b)
	}
}
