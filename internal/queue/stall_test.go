package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldQueue is the queue the deliverers of these tests route to; like
// package delivery they answer Held while the operator suspends it.
const heldQueue = "smarthost:out"

// suspendingDeliverer relays every recipient through heldQueue, or holds
// it there while the queue is suspended (as package delivery does);
// shadowing makes it hand the message to primary hub-b instead, whose
// shadow copy this server then keeps. gate, when set, is waited on after
// a hold verdict: the attempt decided before the test goes on.
type suspendingDeliverer struct {
	q         *Manager
	mu        sync.Mutex
	shadowing bool
	gate      chan struct{}
	decided   chan struct{}
	relayed   int
}

func (d *suspendingDeliverer) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.mu.Lock()
	shadowing, gate, decided := d.shadowing, d.gate, d.decided
	d.mu.Unlock()
	var out []Result
	held := d.q.IsSuspended(heldQueue)
	for _, i := range rcpts {
		switch {
		case shadowing:
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Reply: "250 ok",
				Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
		case held:
			out = append(out, Result{Rcpt: i, Outcome: Held, Queue: heldQueue,
				Reply: HeldReply(heldQueue)})
		default:
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: heldQueue, NextHop: "smarthost", Reply: "250 ok"})
		}
	}
	if held && gate != nil {
		decided <- struct{}{}
		<-gate
	}
	if !held && !shadowing {
		d.mu.Lock()
		d.relayed++
		d.mu.Unlock()
	}
	return out
}

func gone(q *Manager, id ID) bool { _, err := q.Message(id); return errors.Is(err, ErrNotFound) }

// A copy taken over while its route's queue is suspended is held in that
// queue — not left in the shadow queue, where the resume of the route's
// queue never looked: resuming the queue sends it at once (the fake
// clock stands still, so nothing else could).
func TestTakenOverCopyHeldBySuspensionGoesOnResume(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := &suspendingDeliverer{shadowing: true}
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	d.q = q
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@ext.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a shadow copy for hub-b", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Shadow
	})
	d.mu.Lock()
	d.shadowing = false
	d.mu.Unlock()
	if err := q.SuspendQueue(ctx, heldQueue); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d %v", n, err)
	}
	waitFor(t, "the taken-over copy held by the suspension", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && got.Rcpts[0].LastReply != "" && got.NextAttempt.After(clk.Now())
	})
	if v := q.StateView(); v.State(mustMessage(t, q, m.ID)) != "held" {
		t.Errorf("the taken-over copy shows %q, want held", v.State(mustMessage(t, q, m.ID)))
	}
	if n, err := q.ResumeQueue(ctx, heldQueue); err != nil || n != 1 {
		t.Fatalf("resume: %d due, %v; want the taken-over copy", n, err)
	}
	waitFor(t, "the taken-over copy sent after the resume", func() bool { return gone(q, m.ID) })
}

// An attempt that saw the queue suspended and commits its hold after
// the resume's commit (which skipped the message: it was in delivery)
// must not park the message for the hold's hour: the hold's commit sees
// the suspension gone and makes it due at once.
func TestHoldDecidedBeforeResumeCommittedAfter(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := &suspendingDeliverer{gate: make(chan struct{}), decided: make(chan struct{}, 1)}
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	d.q = q
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, heldQueue); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@ext.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.decided:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt")
	}
	if _, err := q.ResumeQueue(ctx, heldQueue); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	gate := d.gate
	d.gate = nil // the attempts after this one go through
	d.mu.Unlock()
	close(gate)
	waitFor(t, "the message sent after the resume", func() bool { return gone(q, m.ID) })
}

func mustMessage(t *testing.T, q *Manager, id ID) *Message {
	t.Helper()
	m, err := q.Message(id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A database an earlier release wrote may hold a taken-over copy parked
// on a hold in its shadow queue, where no resume finds it: the start
// makes it due, and its attempt sends it (or holds it where a resume
// finds it, its route's queue being suspended still).
func TestStartReleasesHoldLeftInShadowQueue(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := clk.Now()
	m := msg(s, "a@example.org", "x@ext.example", "y@ext.example")
	m.Arrived, m.State, m.NextAttempt = now, Ready, now.Add(holdRecheck)
	for i := range m.Rcpts {
		m.Rcpts[i].Queue, m.Rcpts[i].LastReply = "shadow:hub-b", HeldReply(heldQueue)
	}
	m.Rcpts[1].Status = Relayed
	// A copy deferred in its shadow queue waits for its retry step.
	w := msg(s, "a@example.org", "z@ext.example")
	w.Arrived, w.State, w.NextAttempt, w.Attempts = now, Ready, now.Add(time.Hour), 1
	w.Rcpts[0].Queue, w.Rcpts[0].LastReply = "shadow:hub-b", "451 4.4.1 connection refused"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		return tx.PutNew(w, []byte(body))
	}); err != nil {
		t.Fatal(err)
	}
	d := &suspendingDeliverer{}
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	d.q = q
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the copy held in its shadow queue sent", func() bool { return gone(q, m.ID) })
	if got := mustMessage(t, q, w.ID); !got.NextAttempt.Equal(now.Add(time.Hour)) || got.State != Ready {
		t.Errorf("the deferred copy: %s at %v, want ready at its retry step", got.State, got.NextAttempt)
	}
}

// An attempt that finds every pending recipient in a suspended queue
// holds the message without a delivery; a takeover kept aside while it
// was in delivery makes a recipient shadowed at that primary pending
// again in that same commit, and that recipient is due now, not after
// the hold's hour. (The takeover is put aside before the claim here:
// the hold's commit applies it alike.)
func TestHoldAppliesTakeoverDueNow(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := clk.Now()
	m := msg(s, "a@example.org", "x@ext.example", "y@ext.example")
	m.Arrived, m.State, m.NextAttempt = now, Ready, now
	m.Rcpts[0].Queue = heldQueue
	r := &m.Rcpts[1]
	r.Status, r.Queue, r.Primary, r.PrimaryAddr, r.ShadowID = Shadowed, "site:b", "hub-b", "127.0.0.2:25", m.ID.String()+"-b"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		return tx.AddEarlyTakeover(m.ID, "hub-b", now)
	}); err != nil {
		t.Fatal(err)
	}
	d := &suspendingDeliverer{}
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	d.q = q
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, heldQueue); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	// y is routed: its queue is suspended too, so it is held there; x
	// stays held. Both now wait for the resume, which releases them.
	waitFor(t, "the taken-over recipient attempted", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && got.Rcpts[1].Status == Pending && got.Rcpts[1].Queue == heldQueue
	})
	if n, err := q.ResumeQueue(ctx, heldQueue); err != nil || n != 1 {
		t.Fatalf("resume: %d due, %v", n, err)
	}
	waitFor(t, "the message sent", func() bool { return gone(q, m.ID) })
}
