package queue

import (
	"context"
	"math/rand"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS-42 item 6 (rr42a): the quarantine's cached totals (the bound's
// check) and its OUT/MIN follow every commit that takes records out of
// the quarantine — a release, a deletion, a commit of any other writer,
// one that takes a record out and puts it back — in a random sequence:
// whenever the totals are taken as known they are the quarantine's as a
// scan counts it (never high by a leave, never low, never negative),
// and OUT/MIN counts each record that left once, none that stayed.
func TestOPS42QuarantineTotalsFollowEveryCommit(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 later" })
	q := NewManager(s, d, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	q.SetQuarantineBound(1<<30, 1<<20) // room for all: the totals are counted, nothing refused
	rng := rand.New(rand.NewSource(42))
	var held []ID // quarantined, as the test put them
	left := 0
	out := func() (int, bool) { // listed while it holds a message
		qs, _ := q.Queues()
		for _, qi := range qs {
			if qi.Name == QueueQuarantine {
				return qi.OutgoingRate, true
			}
		}
		return 0, false
	}
	take := func() ID {
		i := rng.Intn(len(held))
		id := held[i]
		held = append(held[:i], held[i+1:]...)
		return id
	}
	for step := range 300 {
		what := rng.Intn(5)
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
			left++
		case 2:
			if err := q.DeleteQuarantined(ctx, take(), false); err != nil {
				t.Fatalf("step %d: delete: %v", step, err)
			}
			left++
		case 3: // another writer's commit deletes one
			id := take()
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(id) }); err != nil {
				t.Fatalf("step %d: delete in a commit: %v", step, err)
			}
			left++
		case 4: // a commit takes one out and puts it back: it stays
			id := held[rng.Intn(len(held))]
			if err := s.Update(ctx, func(tx *Tx) error {
				m, err := tx.Get(id)
				if err != nil {
					return err
				}
				reason := m.Quarantine
				m.State, m.Quarantine = Suspended, ""
				if err := tx.Put(m); err != nil {
					return err
				}
				m.State, m.Quarantine = Quarantined, reason
				return tx.Put(m)
			}); err != nil {
				t.Fatalf("step %d: out and back in one commit: %v", step, err)
			}
		}
		n, size := q.QuarantineStats()
		if n != len(held) {
			t.Fatalf("step %d: the scan counts %d quarantined, the test holds %d", step, n, len(held))
		}
		c := &q.qcap
		c.mu.Lock()
		known, cn, cb := c.fresh(clk.Now()), c.n, c.bytes
		c.mu.Unlock()
		if cn < 0 || cb < 0 {
			t.Fatalf("step %d (op %d): cached totals negative: %d messages, %d bytes", step, what, cn, cb)
		}
		if known && (cn != n || cb != size) {
			t.Fatalf("step %d (op %d): cached totals %d messages %d bytes taken as known, the scan %d and %d", step, what, cn, cb, n, size)
		}
		if got, listed := out(); listed && got != left {
			t.Fatalf("step %d (op %d): OUT/MIN %d, %d left the quarantine", step, what, got, left)
		}
	}
}
