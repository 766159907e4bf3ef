package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt20d-F3 (OPS-): the reply a suspension gave a recipient (HeldReply)
// stops applying at the queue's resume: the message's last error
// (CurrentError: message list, show) and the recipient's last reply no
// longer show `452 4.3.2 queue … suspended by the administrator` once
// the queue is resumed; a reply of another queue's suspension, still
// in force, stays.
func TestQueueResumeEndsTheSuspensionsReply(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	ctx := context.Background()
	for _, name := range []string{"smarthost:sink", "smarthost:other"} {
		if err := q.SuspendQueue(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	m := msg(s, "a@example.org", "x@ext.example", "y@ext.example")
	m.State, m.Arrived, m.NextAttempt = Ready, clk.Now(), clk.Now().Add(time.Hour)
	m.Rcpts[0].Queue, m.Rcpts[0].LastReply = "smarthost:sink", HeldReply("smarthost:sink")
	m.Rcpts[1].Queue, m.Rcpts[1].LastReply = "smarthost:other", HeldReply("smarthost:other")
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ResumeQueue(ctx, "smarthost:sink"); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rcpts[0].LastReply != "" {
		t.Errorf("after the resume of smarthost:sink its recipient's last reply is %q", got.Rcpts[0].LastReply)
	}
	if got.Rcpts[1].LastReply != HeldReply("smarthost:other") {
		t.Errorf("the reply of smarthost:other's suspension, still in force, went: %q", got.Rcpts[1].LastReply)
	}
	if e := CurrentError(got); e != HeldReply("smarthost:other") {
		t.Errorf("last error %q; want smarthost:other's suspension only", e)
	}
	if _, err := q.ResumeQueue(ctx, "smarthost:other"); err != nil {
		t.Fatal(err)
	}
	if got, _ = q.Message(m.ID); CurrentError(got) != "" {
		t.Errorf("after both resumes the last error is %q", CurrentError(got))
	}

	// A redirect of a suspended queue moves its held mail on: the
	// suspension's reply does not go with it.
	if err := q.SuspendQueue(ctx, "smarthost:third"); err != nil {
		t.Fatal(err)
	}
	r := msg(s, "a@example.org", "z@ext.example")
	r.State, r.Arrived, r.NextAttempt = Ready, clk.Now(), clk.Now().Add(time.Hour)
	r.Rcpts[0].Queue, r.Rcpts[0].LastReply = "smarthost:third", HeldReply("smarthost:third")
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(r, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if n, err := q.queueActionAll(ctx, "redirect", "smarthost:third", "standby.example"); err != nil || n != 1 {
		t.Fatalf("redirect: %d %v", n, err)
	}
	if got, _ = q.Message(r.ID); CurrentError(got) != "" || got.Rcpts[0].Queue != "redirect:standby.example" {
		t.Errorf("after the redirect of the suspended queue: queue %s, last error %q", got.Rcpts[0].Queue, CurrentError(got))
	}
}

// rt21c L2: a message that is also message-suspended when its queue is
// resumed loses the queue's suspension reply too (last error and the
// recipient's LAST REPLY): the queue no longer holds it, its own
// suspension does, and it stays suspended and uncounted by the resume.
func TestQueueResumeEndsTheReplyOnSuspendedMessages(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	ctx := context.Background()
	if err := q.SuspendQueue(ctx, "smarthost:sink"); err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for _, st := range []State{Ready, Suspended} {
		m := msg(s, "a@example.org", "x@ext.example")
		m.State, m.Arrived, m.NextAttempt = st, clk.Now(), clk.Now().Add(time.Hour)
		m.Rcpts[0].Queue, m.Rcpts[0].LastReply = "smarthost:sink", HeldReply("smarthost:sink")
		m.LastError = HeldReply("smarthost:sink")
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	n, err := q.ResumeQueue(ctx, "smarthost:sink")
	if err != nil || n != 1 {
		t.Fatalf("resume: %d %v; want the one waiting message released", n, err)
	}
	for i, id := range ids {
		got, err := q.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rcpts[0].LastReply != "" || CurrentError(got) != "" {
			t.Errorf("message %d (%v) after the queue's resume: last reply %q, last error %q", i, got.State, got.Rcpts[0].LastReply, CurrentError(got))
		}
	}
	if got, _ := q.Message(ids[1]); got.State != Suspended {
		t.Errorf("the message-suspended message is %v after the queue's resume; want still suspended", got.State)
	}
}
