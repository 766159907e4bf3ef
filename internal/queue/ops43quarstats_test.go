package queue

import (
	"context"
	"math/rand"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-43 item 7: QuarantineStats (the gauges umbra_quarantine_messages
// and umbra_quarantine_bytes, read at every scrape) scanned every
// quarantined record at each call. Its totals are now kept by the
// commits that change the quarantine — a submission, a release, a
// deletion, another writer's commit, a record out and back in, a size
// changed — and recounted at most once per quarCapRecount: through a
// random sequence of 300 commits, read after each, the totals equal a
// scan's and the quarantine is scanned once.
func TestOPS43QuarantineStatsKeptByCommitsNotScanned(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	rng := rand.New(rand.NewSource(43))
	var held []ID
	take := func() ID {
		i := rng.Intn(len(held))
		id := held[i]
		held = append(held[:i], held[i+1:]...)
		return id
	}
	scan := func() (n int, size int64) {
		s.View(func(tx *Tx) error { n, size = quarantineTotals(tx); return nil })
		return n, size
	}
	q.QuarantineStats() // the first read counts (one scan)
	for step := range 300 {
		what := rng.Intn(6)
		if len(held) == 0 {
			what = 0
		}
		switch what {
		case 0:
			m := msg(s, "a@example.org", "x@example.net")
			m.Quarantine = "spam score 14.2"
			if err := q.Submit(ctx, m, []byte(body+strings.Repeat("x", rng.Intn(4096)))); err != nil {
				t.Fatalf("step %d: submit: %v", step, err)
			}
			held = append(held, m.ID)
		case 1:
			if err := q.ReleaseQuarantined(ctx, take()); err != nil {
				t.Fatalf("step %d: release: %v", step, err)
			}
		case 2:
			if err := q.DeleteQuarantined(ctx, take(), false); err != nil {
				t.Fatalf("step %d: delete: %v", step, err)
			}
		case 3: // another writer's commit deletes one
			id := take()
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(id) }); err != nil {
				t.Fatalf("step %d: delete in a commit: %v", step, err)
			}
		case 4, 5: // a commit takes one out and puts it back (4), or changes its size (5)
			id := held[rng.Intn(len(held))]
			if err := s.Update(ctx, func(tx *Tx) error {
				m, err := tx.Get(id)
				if err != nil {
					return err
				}
				if what == 5 {
					m.Size += int64(rng.Intn(100) + 1)
					return tx.Put(m)
				}
				reason := m.Quarantine
				m.State, m.Quarantine = Suspended, ""
				if err := tx.Put(m); err != nil {
					return err
				}
				m.State, m.Quarantine = Quarantined, reason
				return tx.Put(m)
			}); err != nil {
				t.Fatalf("step %d: commit: %v", step, err)
			}
		}
		n, size := q.QuarantineStats()
		sn, ssize := scan()
		if n != sn || size != ssize || n != len(held) {
			t.Fatalf("step %d (op %d): QuarantineStats %d messages %d bytes; a scan %d and %d; the test holds %d", step, what, n, size, sn, ssize, len(held))
		}
	}
	if got := q.quarantineScans(); got != 1 {
		t.Errorf("the quarantine was scanned %d times for 301 reads, want once", got)
	}
	clk.Advance(quarCapRecount) // the recount's bound: read again at most this late
	q.QuarantineStats()
	if got := q.quarantineScans(); got != 2 {
		t.Errorf("after %v the quarantine was scanned %d times in all, want 2 (one recount)", quarCapRecount, got)
	}
}
