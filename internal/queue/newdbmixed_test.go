package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// mixedCopies holds one message of two recipients for hub-b as one copy
// made against hub-b's database db1; hub-b comes back with db2 (SR-7: the
// copy is taken over under db1), and this server's next attempt relays
// x to hub-b again — a new copy, made against db2 — while y is deferred:
// one record with a recipient taken over under db1 (copy <id>-b) and one
// shadowed under db2 (copy <id>-c). It returns the message id.
func mixedCopies(t *testing.T) (*Manager, *clock.Fake, *Message) {
	t.Helper()
	q, clk, m, _ := mixedCopiesPhased(t)
	return q, clk, m
}

// mixedCopiesPhased is mixedCopies with the setter of hub-b's answer to
// the attempts after (mixedDatabaseResults' phase).
func mixedCopiesPhased(t *testing.T) (*Manager, *clock.Fake, *Message, func(int)) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	phase := 1
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		p := phase
		mu.Unlock()
		return mixedDatabaseResults(m, rcpts, p)
	})
	q, ctx := startManager(t, s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	m := msg(s, "a@example.org", "x@b.example", "y@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	mu.Lock()
	phase = 2
	mu.Unlock()
	if res, err := q.ShadowContact("hub-b", "db2", nil); err != nil || res.TakenOver != 1 {
		t.Fatalf("takeover at the new database id: %+v %v", res, err)
	}
	waitFor(t, "x relayed to hub-b again, y deferred", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].Status == Shadowed && got.Rcpts[1].Status == Pending
	})
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].ShadowID != m.ID.String()+"-c" || got.Rcpts[1].ShadowID != m.ID.String()+"-b" || got.Rcpts[1].Primary != "hub-b" {
		t.Fatalf("not the copies expected: %+v", got.Rcpts)
	}
	set := func(p int) {
		mu.Lock()
		phase = p
		mu.Unlock()
	}
	return q, clk, m, set
}

// SR-7, SR-3: the rule that a primary back with a new database settles
// no copy taken over under the old one speaks for those recipients
// only. A copy of the same message made against the new database (the
// taken-over message relayed to the primary again) is settled by the
// new database's discard as any copy: kept, it waited for the next
// failure of the primary to be taken over and delivered a second time.
func TestSR7NewDatabaseDiscardSettlesCopyMadeUnderIt(t *testing.T) {
	q, _, m := mixedCopies(t)
	if _, err := q.ShadowContact("hub-b", "db2", []string{m.ID.String() + "-c"}); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if got == nil {
		t.Fatal("the record is gone: y, taken over under db1, was dropped with x")
	}
	if x := got.Rcpts[0]; x.Status != Relayed {
		t.Errorf("db2's discard of the copy made against db2 did not settle it: x %+v", x)
	}
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("the copy taken over under db1 was settled by db2's discard: y %+v", y)
	}
}

// SR-7, SR-6: a copy taken over under the old database is never given
// back, also when a later takeover of the same message — of a copy made
// against the new database, for failed heartbeats — may be: the new
// database has no original of it, answers "done" when asked about it
// (XQUERYHELD), and the recipient would be lost.
func TestSR7CopyTakenUnderOldDatabaseNeverGivenBack(t *testing.T) {
	q, clk, m := mixedCopies(t)
	clk.Advance(time.Second)
	if _, n, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 1, "connection refused"); err != nil || n != 1 {
		t.Fatalf("takeover for failed heartbeats: %d %v", n, err)
	}
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Status != Pending {
		t.Fatalf("x not taken over: %+v", got.Rcpts[0])
	}
	clk.Advance(time.Second)
	if _, err := q.ShadowContact("hub-b", "db2", nil); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Message(m.ID)
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("the copy taken over under db1 was given back to db2, which never had it: y %+v", y)
	}
	if _, err := q.ShadowPresented("hub-b", "db2", []string{m.ID.String() + "-b"}); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Pending {
		t.Fatalf("db2's answer about the db1 copy settled it: %+v", got)
	}
}

// SR-7, SR-6: a copy in delivery here when its primary comes back with a
// new database is taken over when the attempt ends (kept aside), under
// the old database, never given back — also when the primary's
// heartbeats fail meanwhile and it answers again with the new database:
// the later takeover, which may be given back, overwrote the first, the
// primary's return dropped it, and the copy stayed shadowed for a
// database that never had the message.
func TestSR7TakeoverKeptAsideUnderOldDatabaseNotGivenBack(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db := &primaryDB{v: "db1"}
	var q *Manager
	done := make(chan struct{})
	d := shadowing(db, func(int) Outcome { return Deferred }, func(m *Message, attempt int) {
		if attempt != 2 {
			return
		}
		defer close(done)
		if res, err := q.ShadowContact("hub-b", "db2", nil); err != nil || res.TakenOver != 1 {
			t.Errorf("takeover at the new database id (kept aside): %+v %v", res, err)
		}
		if _, n, err := q.ShadowHeartbeatFailed("hub-b", clk.Now().Add(time.Second), 0, 1, "connection refused"); err != nil || n != 1 {
			t.Errorf("takeover for failed heartbeats (kept aside): %d %v", n, err)
		}
		if _, err := q.ShadowContact("hub-b", "db2", nil); err != nil {
			t.Error(err)
		}
		db.set("") // no route through hub-b for x now
	})
	q = NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute, time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example", "y@c.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool { got, _ := q.Message(m.ID); return got != nil && got.Attempts == 1 && got.State == Ready })
	clk.Advance(2 * time.Minute)
	q.Kick()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no second attempt")
	}
	var got *Message
	waitFor(t, "the second attempt's commit", func() bool {
		got, _ = q.Message(m.ID)
		return got != nil && got.State != Active && got.Attempts >= 2
	})
	if x := got.Rcpts[0]; x.Status != Pending {
		t.Fatalf("the copy made against db1 is shadowed for hub-b on db2, which never had it: x %+v", x)
	}
}

// mixedDatabaseResults is hub-b's answer to each attempt of the tests
// of a message whose recipients end under two database ids: the first
// attempt (phase 1) relays every recipient to hub-b on db1; later ones
// relay x to hub-b on db2 (a copy of its own, "-c") and defer the rest;
// phase 3 defers every recipient (hub-b unreachable); phase 4 delivers x
// to a mailbox here and defers the rest.
func mixedDatabaseResults(m *Message, rcpts []int, phase int) []Result {
	var out []Result
	for _, i := range rcpts {
		switch {
		case phase == 4 && m.Rcpts[i].Addr == "x@b.example":
			out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250 delivered", Database: "DB1"})
		case phase == 3 || phase == 4:
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 hub-b unreachable"})
		case phase == 1:
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db1", Reply: "250 queued"})
		case m.Rcpts[i].Addr == "x@b.example":
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-c", PrimaryDB: "db2", Reply: "250 queued"})
		default:
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
		}
	}
	return out
}

// laterCopyTakenOver is mixedCopies with x's copy made against db2 taken
// over too, for failed heartbeats of hub-b on db2, and the attempt that
// follows (hub-b unreachable) ended: the message holds x taken over under
// db2 (may be given back to it) and y under db1 (never given back).
func laterCopyTakenOver(t *testing.T) (*Manager, *clock.Fake, *Message) {
	t.Helper()
	q, clk, m, _ := laterCopyTakenOverPhased(t)
	return q, clk, m
}

// laterCopyTakenOverPhased is laterCopyTakenOver with the setter of hub-b's
// answer to the attempts after.
func laterCopyTakenOverPhased(t *testing.T) (*Manager, *clock.Fake, *Message, func(int)) {
	t.Helper()
	q, clk, m, set := mixedCopiesPhased(t)
	set(3)
	before, _ := q.Message(m.ID)
	clk.Advance(time.Second)
	if _, n, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 1, "connection refused"); err != nil || n != 1 {
		t.Fatalf("takeover for failed heartbeats: %d %v", n, err)
	}
	waitFor(t, "the attempt after the takeover", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Attempts > before.Attempts && got.State == Ready
	})
	got, _ := q.Message(m.ID)
	if x, y := got.Rcpts[0], got.Rcpts[1]; x.Status != Pending || x.ShadowID != m.ID.String()+"-c" || y.Status != Pending || y.ShadowID != m.ID.String()+"-b" {
		t.Fatalf("not the copies expected: x %+v y %+v", x, y)
	}
	return q, clk, m, set
}

// SR-7, SR-6, SR-3: the taken index holds the database of each copy. A
// message with a recipient taken over under db1 (never given back) and a
// later copy made against db2, taken over for failed heartbeats: db2's
// discard of that later copy settles it — filed under db1 with the
// message, it was settled by nothing db2 said, and both servers
// delivered it.
func TestSR7LaterCopyOfMixedMessageSettledByItsDatabase(t *testing.T) {
	q, clk, m := laterCopyTakenOver(t)
	clk.Advance(time.Second)
	if _, err := q.ShadowContact("hub-b", "db2", []string{m.ID.String() + "-c"}); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if got == nil {
		t.Fatal("the record is gone: y, taken over under db1, was dropped with x")
	}
	if x := got.Rcpts[0]; x.Status != Relayed {
		t.Errorf("db2's discard of the copy made against db2 and taken over for failed heartbeats did not settle it (both servers deliver it): x %+v", x)
	}
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("the copy taken over under db1 was settled by db2's discard: y %+v", y)
	}
}

// SR-7, SR-6: the same message, hub-b answering again with db2 before
// any discard: the later copy goes back to it (it holds the original),
// the one taken over under db1 stays this server's.
func TestSR7LaterCopyOfMixedMessageGivenBackToItsDatabase(t *testing.T) {
	q, clk, m := laterCopyTakenOver(t)
	clk.Advance(time.Second)
	res, err := q.ShadowContact("hub-b", "db2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if x := got.Rcpts[0]; x.Status != Shadowed || x.ShadowID != m.ID.String()+"-c" || res.GivenBack != 1 {
		t.Errorf("the copy made against db2 was not given back to db2 (%d given back): x %+v", res.GivenBack, x)
	}
	if y := got.Rcpts[1]; y.Status != Pending {
		t.Errorf("the copy taken over under db1 was given back to db2, which never had it: y %+v", y)
	}
	if _, err := q.ShadowPresented("hub-b", "db2", []string{m.ID.String() + "-b"}); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Message(m.ID)
	if got == nil || got.Rcpts[1].Status != Pending {
		t.Fatalf("db2's answer about the db1 copy settled it: %+v", got)
	}
}

// SR-7, SR-8: a recipient of the later copy, taken over for failed
// heartbeats and delivered here, is noted for hub-b under db2, the
// database its copy was made against: hub-b on db2 asks for the notes
// (XQUERYTAKENDONE) and does not deliver its original again. Noted under
// db1 with the message, it was told to no session (db1 is gone) and both
// servers delivered it. The copy taken over under db1 is listed to a
// primary restored from db1 (FROM=db1), the later one is not: db1 never
// held it.
func TestSR7LaterCopyOfMixedMessageNotedUnderItsDatabase(t *testing.T) {
	q, clk, m, set := laterCopyTakenOverPhased(t)
	if got := q.TakenOverFor("hub-b", "", "db1", 10); len(got) != 1 || got[0].ID != m.ID.String()+"-b" || got[0].Addr != "y@b.example" {
		t.Errorf("taken over from db1 (FROM=db1): %+v; want y's copy only", got)
	}
	before, _ := q.Message(m.ID)
	set(4)
	clk.Advance(2 * time.Hour)
	q.Kick()
	waitFor(t, "x delivered here", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Attempts > before.Attempts && got.State == Ready && got.Rcpts[0].Status == Delivered
	})
	notes, _ := q.TakenDoneFor("db2", 10)
	found := false
	for _, n := range notes {
		found = found || n.ID == m.ID.String()+"-c" && n.Addr == "x@b.example"
	}
	if !found {
		t.Errorf("x, of the copy made against db2, delivered here is not noted for db2 (hub-b delivers its original too): %+v", notes)
	}
	old, _ := q.TakenDoneFor("db1", 10)
	for _, n := range old {
		if n.Addr == "x@b.example" {
			t.Errorf("x noted under db1, which never had its copy: %+v", n)
		}
	}
}
