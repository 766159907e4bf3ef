package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A send connector whose smart host is this server itself: the first
// attempt sees the next hop greet with the server's own name and defers
// with 4.4.6 "loops back to myself", instead of relaying the message to
// itself max_hop_count times (one stored copy per round).
func TestSmartHostThatIsThisServer(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, listen)
	startUmbra(t, cfg, listen)
	if r := rawSend(t, listen, "a@example.org", []string{"x@elsewhere.example"}, "Subject: round\r\n\r\nhi"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %s", r)
	}
	logText := func() string { b, _ := os.ReadFile(cfg + ".log"); return string(b) }
	waitCond(t, "the loop deferred", 20*time.Second, func() bool {
		return strings.Contains(logText(), "loops back to myself")
	})
	log := logText()
	if n := strings.Count(log, `msg="message accepted"`); n != 1 {
		t.Fatalf("%d messages accepted (the message went round); log:\n%s", n, log)
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "event=defer") && strings.Contains(l, "x@elsewhere.example") &&
			!strings.Contains(l, "451 4.4.6 mail for elsewhere.example loops back to myself") {
			t.Errorf("deferral without the loop reason: %s", l)
		}
	}
}
