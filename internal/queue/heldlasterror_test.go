package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-2, Q-3 (dsnlast47, siblings of the DSN's): a hold does not hide the
// next hop's last reply from the operator either. While a recipient is
// held in its suspended queue, message show's LAST REPLY (ShownReply)
// and message list's LAST ERROR (CurrentError) say the hold and then
// the reply the next hop gave before it; `queue resume` ends the hold
// and gives the recipient that reply back, with its host — it no longer
// leaves it with no reply at all. A message hold (message suspend, then
// message resume) between keeps the reply too. A poison message's last
// error says why it was set aside, then its recipients' last reply.
func TestHoldKeepsTheNextHopsLastReplyShown(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Second}, MessageExpiration: time.Hour})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "x@down.test")
	m.State, m.Arrived, m.NextAttempt, m.Attempts = Ready, t0, t0.Add(5*time.Second), 1
	m.Rcpts[0].NextHop, m.Rcpts[0].LastReply, m.LastError = "mx.down.test[192.0.2.1]:25", greylisted, greylisted
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	clk.Advance(5 * time.Second) // its retry: the delivery holds it
	waitFor(t, "the retry held", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && heldBy(got.Rcpts[0].LastReply) == "mx:down.test"
	})
	got, _ := q.Message(m.ID)
	want := HeldReply("mx:down.test") + "; last reply: " + greylisted
	if shown := ShownReply(got, 0); shown != want {
		t.Errorf("message show's LAST REPLY of the held recipient: %q, want %q", shown, want)
	}
	if e := CurrentError(got); e != want {
		t.Errorf("message list's LAST ERROR of the held message: %q, want %q", e, want)
	}
	if last := HeldLastReply(got); last != greylisted {
		t.Errorf("HeldLastReply: %q, want %q", last, greylisted)
	}
	// The LAST ERROR column, cut at its width, keeps the cause: the
	// next hop's reply first, the hold after it.
	if col, want := LastErrorShown(CurrentError(got)), greylisted+" (queue mx:down.test suspended by the administrator)"; col != want {
		t.Errorf("LAST ERROR column %q, want %q", col, want)
	}

	// The operator holds the message itself: its resume while its queue
	// is suspended too is refused, naming the queue's resume first
	// (operatorcheck.go), and the message stays suspended, the reply
	// kept; the queue's resume, then the message's, let it go.
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(m.ID); got.State != Suspended || got.Rcpts[0].HopReply != greylisted || CurrentError(got) != want {
		t.Errorf("suspended: state %s, kept %q, LAST ERROR %q", got.State, got.Rcpts[0].HopReply, CurrentError(got))
	}
	if err := q.ResumeMessage(ctx, m.ID); err == nil || !strings.Contains(err.Error(), "umbra queue resume mx:down.test first") {
		t.Fatalf("resume of a suspended message in a suspended queue: %v; want the refusal naming the queue's resume first", err)
	}
	if got, _ := q.Message(m.ID); got.State != Suspended || got.Rcpts[0].HopReply != greylisted {
		t.Errorf("after the refused resume: state %s, kept %q", got.State, got.Rcpts[0].HopReply)
	}

	if _, err := q.ResumeQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	if err := q.ResumeMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Message(m.ID)
	if r := got.Rcpts[0]; r.LastReply != greylisted || r.NextHop != "mx.down.test[192.0.2.1]:25" || r.HopReply != "" {
		t.Errorf("after the queue's resume the recipient reads %q from %q (kept %q), want the next hop's %q from mx.down.test[192.0.2.1]:25",
			r.LastReply, r.NextHop, r.HopReply, greylisted)
	}
	if e := CurrentError(got); e != greylisted {
		t.Errorf("after the resume LAST ERROR %q, want %q", e, greylisted)
	}
}

// dsnlast47: a poison message's LAST ERROR says why it was set aside,
// then the reply its next hop last gave a recipient still to deliver —
// the hold of the poison queue no longer hides it.
func TestPoisonLastErrorKeepsTheNextHopsLastReply(t *testing.T) {
	m := &Message{State: Poison, LastError: "in flight during 2 crashes while umbra processed it",
		Rcpts: []Recipient{{Addr: "x@down.test", NextHop: "mx.down.test[192.0.2.1]:25", LastReply: greylisted}}}
	if e := CurrentError(m); e != m.LastError+"; last reply: "+greylisted {
		t.Errorf("poison LAST ERROR %q", e)
	}
	m.Rcpts[0].LastReply = ""
	if e := CurrentError(m); e != m.LastError {
		t.Errorf("poison LAST ERROR with no reply %q, want the reason alone", e)
	}
	if e := CurrentError(&Message{State: Damaged, LastError: "bad record"}); !strings.HasPrefix(e, "bad record") {
		t.Errorf("damaged LAST ERROR %q", e)
	}
}

// dsnlast47: HeldLastReply, what the views add after the hold of a
// message held in suspended queues, is the next hop's reply whether the
// hold is written in the record yet (its reply kept apart) or not (a
// claim found the queue suspended and left the record as it was); none
// for a recipient no hop answered, or whose reply is umbra's own note.
func TestHeldLastReplyWrittenOrNot(t *testing.T) {
	hold := HeldReply("mx:down.test")
	for _, c := range []struct {
		name string
		r    Recipient
		want string
	}{
		{"hold written", Recipient{LastReply: hold, HopReply: greylisted, HopHost: "mx.down.test[192.0.2.1]:25"}, greylisted},
		{"hold not written", Recipient{LastReply: greylisted, NextHop: "mx.down.test[192.0.2.1]:25"}, greylisted},
		{"behind a dead mark", Recipient{LastReply: deadReply("mx/down.test", greylisted), NextHop: "mx.down.test[192.0.2.1]:25"}, greylisted},
		{"never answered", Recipient{LastReply: hold}, ""},
		{"umbra's note", Recipient{LastReply: stopReply}, ""},
	} {
		m := &Message{State: Ready, Rcpts: []Recipient{c.r}}
		if got := HeldLastReply(m); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
