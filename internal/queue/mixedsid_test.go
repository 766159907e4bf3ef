package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// relayedMixed is mixedCopies with the shadow ids a real relay gives
// (RelayShadowID, as delivery's transaction does, with the database
// hub-b presents): the first attempt relays x and y to hub-b on db1 in
// one transaction; hub-b comes back with db2 (SR-7 takes that copy over
// under db1) and the next attempt relays x alone to hub-b on db2 while
// y is deferred; then hub-b fails its heartbeats and x's copy made
// against db2 is taken over too. It returns the message and the ids of
// y's copy (db1) and x's (db2).
func relayedMixed(t *testing.T, perTx bool) (q *Manager, clk *clock.Fake, m *Message, ySID, xSID string) {
	t.Helper()
	s := openTest(t)
	clk = clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	phase := 1
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		p := phase
		mu.Unlock()
		var out []Result
		var xs []int // one transaction each, one id each (delivery's transaction.go)
		sid1 := RelayShadowID(m, rcpts, "hub-b", "db1", perTx)
		for _, i := range rcpts {
			if p == 2 && m.Rcpts[i].Addr == "x@b.example" {
				xs = append(xs, i)
			}
		}
		sid2 := RelayShadowID(m, xs, "hub-b", "db2", perTx)
		for _, i := range rcpts {
			switch {
			case p == 1:
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.212:15001",
					ShadowID: sid1, PrimaryDB: "db1", Reply: "250 queued"})
			case p == 2 && m.Rcpts[i].Addr == "x@b.example":
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.212:15001",
					ShadowID: sid2, PrimaryDB: "db2", Reply: "250 queued"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 hub-b unreachable"})
			}
		}
		return out
	})
	q, ctx := startManager(t, s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	m = msg(s, "a@example.org", "x@b.example", "y@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	first, _ := q.Message(m.ID)
	ySID = first.Rcpts[1].ShadowID
	mu.Lock()
	phase = 2
	mu.Unlock()
	if res, err := q.ShadowContact("hub-b", "db2", nil); err != nil || res.TakenOver != 1 {
		t.Fatalf("takeover at the new database id: %+v %v", res, err)
	}
	waitFor(t, "x relayed to hub-b on db2, y deferred", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].Status == Shadowed && got.Rcpts[1].Status == Pending
	})
	mu.Lock()
	phase = 3
	mu.Unlock()
	before, _ := q.Message(m.ID)
	xSID = before.Rcpts[0].ShadowID
	clk.Advance(time.Second)
	if _, n, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 1, "connection refused"); err != nil || n != 1 {
		t.Fatalf("takeover for failed heartbeats: %d %v", n, err)
	}
	waitFor(t, "the attempt after the takeover", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Attempts > before.Attempts && got.State == Ready
	})
	got, _ := q.Message(m.ID)
	if x, y := got.Rcpts[0], got.Rcpts[1]; x.Status != Pending || y.Status != Pending || y.ShadowID != ySID {
		t.Fatalf("not the copies expected: x %+v y %+v", x, y)
	}
	return q, clk, m, ySID, xSID
}

// SR-7, SR-6, W-3: x, taken over under db1 with y and relayed alone to
// hub-b back on db2, is a new copy made against db2. It kept the id of
// the copy taken over under db1 (takenOverID: meant for a primary back
// with its old database, which merges it into its original) — one id
// for a copy of each database, and the index's value per copy id
// (takenEntry) then filed x's second takeover under db1 with y: db2's
// return did not give it back, and both servers delivered it.
func TestSR7RelayToNewDatabaseGetsOwnCopyID(t *testing.T) {
	q, clk, m, ySID, xSID := relayedMixed(t, true)
	if xSID == ySID {
		t.Errorf("x's copy made against db2 has the id %q of y's copy taken over under db1", xSID)
	}
	clk.Advance(time.Second)
	res, err := q.ShadowContact("hub-b", "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if x := got.Rcpts[0]; x.Status != Shadowed || res.GivenBack != 1 {
		t.Errorf("the copy made against db2 was not given back to db2, which holds its original (%d given back): x %+v", res.GivenBack, x)
	}
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("the copy taken over under db1 was given back to db2, which never had it: y %+v", y)
	}
}

// SR-7, SR-3: the same message; db2's discard of x's copy (it delivered
// x) settles x here, and leaves y, taken over under db1.
func TestSR7RelayToNewDatabaseSettledByItsDiscard(t *testing.T) {
	q, clk, m, _, xSID := relayedMixed(t, true)
	clk.Advance(time.Second)
	if _, err := q.ShadowContact("hub-b", "db2", []string{xSID}); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if got == nil {
		t.Fatal("the record is gone: y, taken over under db1, was settled with x")
	}
	if x := got.Rcpts[0]; x.Status != Relayed {
		t.Errorf("db2's discard of the copy made against it did not settle it (both servers deliver x): x %+v", x)
	}
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("y, taken over under db1, settled by db2's discard: %+v", y)
	}
}

// SR-7, SR-6, W-3: the same to a primary below shadow verbs version 8,
// whose relays are named by message and primary (one id for every
// transaction): x's copy made against db2 has an id of its own there too.
func TestSR7RelayToNewDatabaseGetsOwnCopyIDBelowVersion8(t *testing.T) {
	q, clk, m, ySID, xSID := relayedMixed(t, false)
	if xSID == ySID {
		t.Errorf("x's copy made against db2 has the id %q of y's copy taken over under db1", xSID)
	}
	clk.Advance(time.Second)
	res, err := q.ShadowContact("hub-b", "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if x := got.Rcpts[0]; x.Status != Shadowed || res.GivenBack != 1 {
		t.Errorf("the copy made against db2 was not given back to db2, which holds its original (%d given back): x %+v", res.GivenBack, x)
	}
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("the copy taken over under db1 was given back to db2, which never had it: y %+v", y)
	}
}
