package smtp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// A full quarantine refuses quarantined mail at end of data with
// 452 4.3.1 and stores nothing; mail without a verdict still gets its
// 250; a deletion from the quarantine makes room again.
func TestQuarantineFullRefusedAtData(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	never := queue.DelivererFunc(func(_ context.Context, _ *queue.Message, _ []byte, rcpts []int) []queue.Result {
		res := make([]queue.Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = queue.Result{Rcpt: r, Outcome: queue.Deferred, Reply: "451 4.4.1 later"}
		}
		return res
	})
	mgr := queue.NewManager(store, never, queue.ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	mgr.SetQuarantineBound(0, 1) // one quarantined message fills it
	verdict := &scripted{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""),
		Routing: testTable(), Queue: mgr, Clock: clk,
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{verdict}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	send := func(quarantine, want string) string {
		t.Helper()
		verdict.data.Quarantine = quarantine
		d := dial(t, s, "")
		defer d.conn.Close()
		d.expect("220")
		d.cmd("EHLO client.example", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		return d.cmd("Subject: hi\r\n\r\nhello\r\n.", want)
	}
	count := func() int { n, _ := mgr.QuarantineStats(); return n }
	send("spam score 14", "250")
	if got := send("spam score 15", "452"); got != "452 4.3.1 Quarantine full, try again later" {
		t.Fatalf("reply %q", got)
	}
	if count() != 1 || mgr.QuarantineRefused() != 1 {
		t.Fatalf("quarantine holds %d, refused %d", count(), mgr.QuarantineRefused())
	}
	send("", "250") // no verdict: never affected
	var held queue.ID
	_ = store.View(func(tx *queue.Tx) error {
		if ids := tx.InQueue(queue.QueueQuarantine, 10); len(ids) == 1 {
			held = ids[0]
		}
		return nil
	})
	if err := mgr.DeleteQuarantined(context.Background(), held, false); err != nil {
		t.Fatal(err)
	}
	send("spam score 16", "250")
	if count() != 1 {
		t.Fatalf("quarantine holds %d", count())
	}
}
