package queue

import (
	"strings"
	"testing"
	"time"
)

// rt18 F3: while its queue is suspended a message is not attempted, so
// every view of it says so: its state is "held" (not "ready" or
// "retry"), it names the suspended queue, the --state filter selects it
// by that state, and the queue's counts use the same word.
func TestSuspendedQueueShowsItsMessagesHeld(t *testing.T) {
	sq := deferredSlowQueue(t, 1, time.Minute)
	q, ctx, m := sq.q, sq.ctx, sq.ms[0]
	got, _ := q.Message(m.ID)
	if st := q.StateView().State(got); st != "retry" {
		t.Fatalf("before the suspension: %s, want retry", st)
	}
	if err := q.SuspendQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	sv := q.StateView()
	if st := sv.State(got); st != "held" {
		t.Errorf("state while the queue is suspended: %s, want held", st)
	}
	if why := sv.Held(got); !strings.Contains(why, "mx:slow.example") || !strings.Contains(why, "suspended") {
		t.Errorf("held reason %q does not name the suspended queue", why)
	}
	if rs := sv.RecipientStatus(got, 0); rs != "held" {
		t.Errorf("recipient status %s, want held", rs)
	}
	ms, err := q.Messages(MessageFilter{State: "held"})
	if err != nil || len(ms) != 1 {
		t.Errorf("--state held: %d messages, %v; want 1", len(ms), err)
	}
	if ms, _ := q.Messages(MessageFilter{State: "retry"}); len(ms) != 0 {
		t.Errorf("--state retry selects a held message")
	}
	if err := CheckState("held"); err != nil {
		t.Error(err)
	}
	qs, _ := q.Queues()
	for _, qi := range qs {
		if qi.Name == "mx:slow.example" && (qi.Status != "suspended" || qi.ByState["held"] != 1 || qi.ByState["retry"] != 0 || qi.ByState["ready"] != 0) {
			t.Errorf("queue counts %+v, want its one message held", qi)
		}
	}
	// Resumed: the message is no longer held.
	if _, err := q.ResumeQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Message(m.ID)
	if st := q.StateView().State(got); st == "held" {
		t.Errorf("still held after resume")
	}
	if why := q.StateView().Held(got); why != "" {
		t.Errorf("held reason after resume: %q", why)
	}
}

// A message with recipients in a suspended queue and in another one is
// still attempted for the others: it is not held, but the view names
// the recipients that wait.
func TestPartlyHeldMessage(t *testing.T) {
	m := &Message{State: Ready, Rcpts: []Recipient{
		{Addr: "x@a.example", Queue: "mx:a.example"},
		{Addr: "y@b.example", Queue: "mx:b.example"},
		{Addr: "z@c.example", Queue: "mx:c.example", Status: Relayed},
	}}
	sv := NewStateView(time.Now(), []string{"mx:a.example", "mx:c.example"})
	if st := sv.State(m); st != "ready" {
		t.Errorf("state %s, want ready (one recipient can be attempted)", st)
	}
	if why := sv.Held(m); !strings.Contains(why, "mx:a.example") || strings.Contains(why, "mx:c.example") {
		t.Errorf("held reason %q: want mx:a.example only", why)
	}
	if sv.RecipientStatus(m, 0) != "held" || sv.RecipientStatus(m, 1) != "pending" || sv.RecipientStatus(m, 2) != "relayed" {
		t.Errorf("recipient statuses %s %s %s", sv.RecipientStatus(m, 0), sv.RecipientStatus(m, 1), sv.RecipientStatus(m, 2))
	}
	// Every pending recipient waits in a suspended queue: held.
	m.Rcpts[1].Queue = "mx:a.example"
	if st := sv.State(m); st != "held" {
		t.Errorf("state %s, want held", st)
	}
	// A message the operator suspended stays "suspended"; a poison one
	// "poison": their own hold comes first.
	for _, st := range []State{Suspended, Poison, Shadow, Quarantined} {
		m.State = st
		if got := sv.State(m); got != st.String() {
			t.Errorf("state %s shown as %s", st, got)
		}
	}
}
