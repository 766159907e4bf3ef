package main

import (
	"strings"
	"testing"
	"time"
)

// rt17d-F5: message show prints a deferred message's last error once.
func TestMessageShowLastErrorOnce(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: the message is deferred
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	id := sendMarked(t, listen, "once", "MARK-once")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := cli(t, cfg, "message", "show", id)
		if n := strings.Count(out, "last error:"); n > 0 {
			if n != 1 {
				t.Fatalf("message show prints %d last error lines:\n%s", n, out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no last error shown for the deferred message:\n%s", out)
		}
	}
}
