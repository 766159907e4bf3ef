package main

import (
	"os"
	"strings"
	"testing"
)

// rt17d minor: with outbound_tls.dane not written and dns.trust_ad off,
// the start log says what the configuration holds (dane not set, its
// default) and what is in effect (DANE off), never that dane "is on".
func TestStartLogDANEDefaultWording(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	if b, _ := os.ReadFile(cfg); strings.Contains(string(b), "dane") || strings.Contains(string(b), "trust_ad") {
		t.Fatalf("the fixture sets dane or trust_ad:\n%s", b)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	d.kill()
	b, _ := os.ReadFile(d.log)
	log := string(b)
	if strings.Contains(log, "dane is on") {
		t.Errorf("start log says dane is on although it is not written and DANE is off")
	}
	if !strings.Contains(log, "outbound_tls.dane is not set") || !strings.Contains(log, "DANE is off") {
		t.Errorf("start log does not say dane is not set and DANE is off")
	}
}
