package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldAgeRig is a manager on a fake clock whose deliverer defers the
// original's recipient x@example.net for ever and relays every other
// (its DSNs to the sender).
type heldAgeRig struct {
	q   *Manager
	s   *Store
	clk *clock.Fake
	d   *scripted
	ev  *eventLog
	m   *Message
}

func newHeldAgeRig(t *testing.T, expiration, delay time.Duration) *heldAgeRig {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(addr string, _ int) (Outcome, string) {
		if addr == "x@example.net" {
			return Deferred, "451 4.3.0 try later"
		}
		return RelayedOK, "250 2.0.0 queued"
	})
	ev := &eventLog{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, Events: ev, Hostname: "edge.test",
		RetrySchedule:     []time.Duration{time.Minute},
		MessageExpiration: expiration, DelayNotification: delay})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "s@example.org", "x@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	r := &heldAgeRig{q: q, s: s, clk: clk, d: d, ev: ev, m: m}
	r.waitAttempts(t, 1)
	return r
}

// attempts is how many attempts x@example.net had.
func (r *heldAgeRig) attempts() int {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.attempts["x@example.net"]
}

// waitAttempts waits until x@example.net had n attempts and their
// results are committed (the record is Ready again, or gone).
func (r *heldAgeRig) waitAttempts(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "the attempt's results committed", func() bool {
		if r.attempts() < n {
			return false
		}
		got, err := r.q.Message(r.m.ID)
		return err != nil || got.State == Ready
	})
}

// due advances the clock by d and lets the message's next attempt run.
func (r *heldAgeRig) due(t *testing.T, d time.Duration) {
	t.Helper()
	n := r.attempts()
	r.clk.Advance(d)
	r.q.Kick()
	if _, err := r.q.Message(r.m.ID); err != nil {
		return // failed and gone
	}
	waitFor(t, "the next attempt or the expiry", func() bool {
		got, err := r.q.Message(r.m.ID)
		return err != nil || r.attempts() > n && got.State == Ready
	})
}

func (r *heldAgeRig) holdAndRelease(t *testing.T, held time.Duration) {
	t.Helper()
	ctx := context.Background()
	if err := r.q.SuspendMessage(ctx, r.m.ID); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(held)
	n := r.attempts()
	if err := r.q.ResumeMessage(ctx, r.m.ID); err != nil {
		t.Fatal(err)
	}
	r.waitAttempts(t, n+1)
}

func (r *heldAgeRig) count(prefix string) int {
	r.ev.mu.Lock()
	defer r.ev.mu.Unlock()
	n := 0
	for _, e := range r.ev.out {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// Q-3, Q-4 (poison45 item 3): a message whose delay notice went, then
// suspended and resumed by the operator, got a second delay notice when
// it was delayed again: the resume made it "as if just received", its
// notice state reset with its age. Its sender was told once that the
// message is delayed (RFC 3464: a delay notice per delay, the final
// report at the end); the operator's hold is no new message to them. The
// resume keeps the notice gone: one delay notice, however many resumes.
func TestQ3ResumedMessageGetsNoSecondDelayNotice(t *testing.T) {
	r := newHeldAgeRig(t, 24*time.Hour, 3*time.Minute)
	for range 4 {
		r.due(t, time.Minute)
	}
	if n := r.count("dsn: DSN (delayed)"); n != 1 {
		t.Fatalf("%d delay notices after 4 minutes deferred with delay_notification 3m, want 1: %v", n, r.ev.out)
	}
	for range 3 {
		r.holdAndRelease(t, time.Minute)
		for range 4 {
			r.due(t, time.Minute)
		}
	}
	if n := r.count("dsn: DSN (delayed)"); n != 1 {
		t.Fatalf("%d delay notices after three suspends and resumes, each followed by 4 minutes deferred, want 1", n)
	}
	got, err := r.q.Message(r.m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.DelayNotified {
		t.Fatal("the resumed record says no delay notice went")
	}
}

// Q-3, Q-4 (poison45 item 3): a suspend and a resume, repeated, kept a
// message alive for ever: each resume made it "as if just received",
// its age and so its expiry (message_expiration) starting again at
// zero. A hold does not age the message — the time held is not
// counted — but the time it spent queued and attempted before the hold
// is: a loop of short holds no longer outlives the expiry.
func TestQ3SuspendResumeLoopDoesNotOutliveExpiry(t *testing.T) {
	r := newHeldAgeRig(t, 10*time.Minute, 0)
	for range 8 { // 16 minutes of attempts, each 2 minutes a suspend and a resume a second later
		r.due(t, 2*time.Minute-time.Second)
		if _, err := r.q.Message(r.m.ID); err != nil {
			break
		}
		r.holdAndRelease(t, time.Second)
	}
	r.due(t, time.Minute)
	got, err := r.q.Message(r.m.ID)
	if err == nil {
		t.Fatalf("message still queued (%s, arrived %v, %v earlier) 16 minutes after its receipt with message_expiration 10m, held 8 s in all: a suspend/resume loop makes it immortal",
			got.State, got.Arrived, got.OrgEarlier)
	}
	// Its events are written once the commit that removed it returned.
	waitFor(t, "the expired message's failure event", func() bool { return r.count("fail: ") > 0 })
}

// The other half of the rule: the time held is not counted. A message
// attempted for 4 of its 10 minutes, held 30 minutes, then resumed, is
// not expired by the hold: it has its 6 minutes left, and only those.
func TestQ3HoldTimeIsNotCountedInTheAge(t *testing.T) {
	r := newHeldAgeRig(t, 10*time.Minute, 0)
	for range 4 {
		r.due(t, time.Minute)
	}
	r.holdAndRelease(t, 30*time.Minute)
	if r.count("fail: ") != 0 {
		t.Fatalf("the resumed message failed at its resume: %v", r.ev.out)
	}
	for range 4 {
		r.due(t, time.Minute)
	}
	if _, err := r.q.Message(r.m.ID); err != nil {
		t.Fatalf("the resumed message left the queue 8 minutes into its 10 (30 held): %v", r.ev.out)
	}
	for range 3 {
		r.due(t, time.Minute)
	}
	if _, err := r.q.Message(r.m.ID); err == nil {
		t.Fatal("the resumed message still queued 11 minutes into its 10 (30 held): the hold counted nothing, the time before it was forgotten")
	}
}

// The sibling in a step of the wall clock (clockstep.go): the step
// moves every stored time that times a wait (arrival, next attempt), so
// that the real time a message waits is what it was. The start of a
// hold (heldsince) was not moved with the arrival: after a step forward
// during the hold the resume read an age short by the step (clamped to
// none, a new lifetime), after a step back one long by it.
func TestQ3ClockStepDuringHoldKeepsTheAgeAtTheHold(t *testing.T) {
	for _, step := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			r := newHeldAgeRig(t, 10*time.Minute, 0)
			for range 4 {
				r.due(t, time.Minute)
			}
			ctx := context.Background()
			if err := r.q.SuspendMessage(ctx, r.m.ID); err != nil {
				t.Fatal(err)
			}
			r.clk.Advance(time.Minute)
			held, err := r.q.Message(r.m.ID)
			if err != nil {
				t.Fatal(err)
			}
			r.clk.Jump(step) // the wall clock steps: the scheduler's loop follows it (followClockStep)
			r.q.Kick()
			waitFor(t, "the stored times to follow the step", func() bool {
				got, err := r.q.Message(r.m.ID)
				return err == nil && got.Arrived.Equal(held.Arrived.Add(step))
			})
			r.clk.Advance(time.Minute)
			if err := r.q.ResumeMessage(ctx, r.m.ID); err != nil {
				t.Fatal(err)
			}
			got, err := r.q.Message(r.m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if age := r.clk.Now().Sub(got.OrgArrived()); age != 4*time.Minute {
				t.Fatalf("age after the resume %v, want the 4m it had when held (a clock step of %v during the hold)", age, step)
			}
		})
	}
}

// Q-3, Q-4 (reread of poison45 item 3): the age a resume carries is
// whole seconds (OrgEarlier), and it was cut down to them: each resume
// dropped the part of a second the message had queued beyond them. A
// loop of suspends and resumes less than a second apart — a script
// calling umbra message suspend and resume in turn — then never aged
// the message at all: each resume gave back the age of the one before,
// and the message lived for ever, the defect the hold's note was made
// to end. The time queued between the holds counts, to the nanosecond.
func TestQ3SubSecondSuspendResumeLoopStillAges(t *testing.T) {
	r := newHeldAgeRig(t, 24*time.Hour, 0)
	start := r.clk.Now().Sub(r.m.OrgArrived())
	const cycles = 20
	for range cycles {
		r.clk.Advance(600 * time.Millisecond) // queued between a resume and the next suspend
		r.holdAndRelease(t, 0)
	}
	got, err := r.q.Message(r.m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if age, want := r.clk.Now().Sub(got.OrgArrived()), start+cycles*600*time.Millisecond; age != want {
		t.Fatalf("age after %d suspends and resumes 600 ms apart: %v, want %v (the %v queued between them)", cycles, age, want, cycles*600*time.Millisecond)
	}
}
