package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// allAttemptEvents records every recipient event with the attempts
// it carries.
type allAttemptEvents struct {
	mu  sync.Mutex
	evs []string
	n   []int
	ids []ID
}

func (a *allAttemptEvents) Event(name string, m *Message, r *Recipient, reply string) {
	if r == nil {
		return
	}
	a.mu.Lock()
	a.evs, a.n, a.ids = append(a.evs, name), append(a.n, m.Attempts), append(a.ids, m.ID)
	a.mu.Unlock()
}

// of is the events of message id, "name=attempts" each.
func (a *allAttemptEvents) of(id ID) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for i := range a.evs {
		if a.ids[i] == id {
			out = append(out, a.evs[i]+"="+string(rune('0'+a.n[i])))
		}
	}
	return out
}

// rt20d-F5 (OPS-): attempts= in the events of an attempt (the daemon's
// log line, the tracking log) is the number of that attempt, 1-based,
// whatever its outcome: a first-try relay says 1 (it said 0), and a
// relay after one deferral says 2, as the deferral said 1 (it said 1).
func TestAttemptEventsCarryTheAttemptsNumber(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	ev := &allAttemptEvents{}
	q := NewManager(s, p, ManagerConfig{MaxActive: 10, Clock: clk, Events: ev,
		RetrySchedule: []time.Duration{10 * time.Second, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	first := msg(s, "a@example.org", "b@ok.test")
	later := msg(s, "a@example.org", "b@down.test")
	for _, m := range []*Message{first, later} {
		m.Arrived = clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first-try relay and the deferral", func() bool {
		return len(ev.of(first.ID)) == 1 && len(ev.of(later.ID)) == 1
	})
	p.mu.Lock()
	p.refuse["down.test"] = false
	p.mu.Unlock()
	clk.Advance(11 * time.Second)
	q.Kick()
	waitFor(t, "the relay after the deferral", func() bool { return len(ev.of(later.ID)) == 2 })
	if got := ev.of(first.ID); got[0] != "send=1" {
		t.Errorf("first-try relay: %v, want send=1", got)
	}
	if got := ev.of(later.ID); got[0] != "defer=1" || got[1] != "send=2" {
		t.Errorf("relay after one deferral: %v, want [defer=1 send=2]", got)
	}
}

// rt21c L6: an operator's retry counts as no attempt (README): the
// events of its deferral carry the count message show gives after it,
// not one more (the log said attempts=2 where show said attempts: 1).
func TestOperatorRetryEventsCarryTheShownCount(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.3.0 try later" })
	ev := &allAttemptEvents{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: ev, RetrySchedule: []time.Duration{time.Minute, time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "the first deferral", func() bool { return len(ev.of(m.ID)) == 1 })
	clk.Advance(10 * time.Second)
	if err := q.RetryMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "the operator's retry deferred", func() bool { return len(ev.of(m.ID)) == 2 })
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if evs := ev.of(m.ID); evs[1] != "defer="+string(rune('0'+got.Attempts)) {
		t.Errorf("events %v; the operator's retry's deferral should carry the count message show gives, %d", evs, got.Attempts)
	}
}

// rt27d F1 (OPS-4, README "Logs"): the other half of the rule an
// operator's retry follows. Its deferral carries the count message show
// gives (above); one that ends the message — its recipient relayed —
// carries the number of that attempt as any attempt's event does, one
// more than the count show gave before it (a first deferral, an
// operator's retry deferred: show said 1; the retry that relays says 2).
func TestOperatorRetryThatEndsTheMessageCarriesItsNumber(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := newScripted(func(_ string, n int) (Outcome, string) {
		if n >= 3 {
			return RelayedOK, "250 2.0.0 ok"
		}
		return Deferred, "451 4.3.0 try later"
	})
	ev := &allAttemptEvents{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: ev, RetrySchedule: []time.Duration{time.Minute, time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "the first deferral", func() bool { return len(ev.of(m.ID)) == 1 })
	for k := 2; k <= 3; k++ {
		clk.Advance(10 * time.Second)
		if err := q.RetryMessage(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		d.wait(t)
		waitFor(t, "the operator's retry's event", func() bool { return len(ev.of(m.ID)) == k })
		if k == 2 {
			got, err := q.Message(m.ID)
			if err != nil || got.Attempts != 1 {
				t.Fatalf("after the operator's retry deferred: %+v, %v; want attempts 1", got, err)
			}
		}
	}
	if evs := ev.of(m.ID); evs[0] != "defer=1" || evs[1] != "defer=1" || evs[2] != "send=2" {
		t.Errorf("events %v, want [defer=1 defer=1 send=2]", evs)
	}
}
