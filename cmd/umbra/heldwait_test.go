package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// OPS-3 (final reread, F1 and F3): serve waits for a holder of its
// transport database only while it is named and no serve — an offline
// db restore or compact. Another umbra serve is refused; so is a holder
// the system does not name (pid 0: the shipped units' ProcSubset=pid
// hides /proc/locks), which had been waited for without end; and a stop
// asked for during the wait ends it (SIGTERM had been swallowed).
func TestWaitForHolderWaitsOnlyForANamedDbCommand(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	wait := waitForHolder(ctx, log, "/var/lib/umbra/queue.db")
	if err := wait(4242, "/usr/bin/umbra -c /etc/umbra/hub.yaml db restore /srv/b.db"); err != nil {
		t.Fatalf("a db restore: %v, want a wait", err)
	}
	if err := wait(4243, "/usr/bin/umbra serve -c /etc/umbra/hub.yaml"); err == nil || !strings.Contains(err.Error(), "another umbra serve") {
		t.Fatalf("another serve: %v, want a refusal naming it", err)
	}
	if err := wait(0, ""); err == nil || !strings.Contains(err.Error(), "does not name") {
		t.Fatalf("a holder not named: %v, want a refusal saying it cannot be named", err)
	}
	cancel()
	if err := wait(4242, "/usr/bin/umbra db restore /srv/b.db"); err == nil || !strings.Contains(err.Error(), "stopped while waiting") {
		t.Fatalf("a stop during the wait: %v, want the wait ended", err)
	}
}
