package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, rt18 ident18 item 1 continued: the next hop presenting another
// server's database id (hub-b presenting hub-a's db-a) is warned of once
// per process for that hop, address and id — not once per message
// relayed to it (the id is not recorded, so every later relay meets it
// again), and not once per run of a commit: a results commit that
// failed and is tried again (pendingresults.go) warns after the commit
// that held, once.
func TestRelayDatabaseWarningOncePerHop(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db-a", Reply: "250 queued"})
		}
		return out
	})
	var log logBuf
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Log: slog.New(slog.NewTextHandler(&log, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"})
	q.Start(ctx)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatal(err)
	}
	var first atomic.Pointer[Message]
	var failed atomic.Bool
	s.setCommitFault(func(tx *Tx) error {
		f := first.Load()
		if f == nil {
			return nil
		}
		if m, err := tx.Get(f.ID); err == nil && m.State == Shadow && failed.CompareAndSwap(false, true) {
			return fmt.Errorf("write queue.db: %w", syscall.ENOSPC)
		}
		return nil
	})
	relayed := func(m *Message) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if got, _ := q.Message(m.ID); got != nil && got.State == Shadow {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %s never relayed", m.ID)
			}
			clk.Advance(strandedRetry) // a failed commit is tried again
			q.Kick()
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 3 {
		m := msg(s, "a@example.org", "x@remote.example", "y@remote.example")
		if i == 0 {
			first.Store(m)
		}
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		relayed(m)
	}
	if !failed.Load() {
		t.Fatal("fixture: the first relay's results commit never failed")
	}
	// Logged once the commit tried again holds — perhaps after the
	// state the loop above saw (a loaded machine): waited for.
	waitFor(t, "fixture: the failed commit tried again", func() bool {
		return strings.Contains(log.String(), "delivery results committed after their commit had failed")
	})
	// Logged after the commit that held returns: wait for it, then stop
	// the manager so that a second warning, if any, is counted too.
	waitFor(t, "the warning", func() bool {
		return strings.Contains(log.String(), "next hop's transport database id not recorded")
	})
	cancel()
	q.Wait()
	if n := strings.Count(log.String(), "next hop's transport database id not recorded"); n != 1 {
		t.Fatalf("the warning about hub-b's database id logged %d times for three messages (one commit tried twice); want once", n)
	}
}
