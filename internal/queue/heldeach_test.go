package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// rt36 F2 (Q-3, Q-4, OPS-3): a queue whose every message was held one
// by one (message suspend) shows "suspended", but queue resume answered
// "is not suspended: nothing to release (umbra queue retry … attempts
// its messages now)" and queue retry "0 messages due now", done: neither
// said that the messages are each held, nor named the command that
// releases them. Both now refuse (ErrNotApplicable) saying so and naming
// umbra message resume --queue Q; a queue suspended as a queue too is
// resumed, and the batch counts the messages that stay held one by one
// (BatchResult.HeldEach), which the command says.
func TestQueueOfMessagesHeldEachSaysSo(t *testing.T) {
	sq := deferredSlowQueue(t, 2, time.Hour)
	q, ctx := sq.q, sq.ctx
	const name = "mx:slow.example"
	for _, m := range sq.ms {
		if err := q.SuspendMessage(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	want := "umbra message resume --queue " + name
	for _, action := range []string{"resume", "retry"} {
		ids, err := q.QueueSelection(action, name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := q.QueueBatch(ctx, action, name, "", ids, true, time.Time{})
		if !errors.Is(err, ErrNotApplicable) || b.Changed != 0 || !strings.Contains(err.Error(), "2 messages are each held (message suspend)") ||
			!strings.Contains(err.Error(), want) {
			t.Errorf("queue %s of a queue whose messages are each held: %+v, %v; want a refusal saying they are held one by one, naming %q", action, b, err, want)
		}
	}
	if err := q.SuspendQueue(ctx, name); err != nil {
		t.Fatal(err)
	}
	ids, err := q.QueueSelection("resume", name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.QueueBatch(ctx, "resume", name, "", ids, true, time.Time{})
	if err != nil || b.Changed != 0 || b.HeldEach != 2 {
		t.Fatalf("resume of the suspended queue: %+v, %v; want 0 due, 2 held each", b, err)
	}
	// One released: a retry makes it due and counts the other held.
	if err := q.ResumeMessage(ctx, sq.ms[0].ID); err != nil {
		t.Fatal(err)
	}
	sq.d.wait(t)
	waitFor(t, "the released message deferred again", func() bool {
		m, _ := q.Message(sq.ms[0].ID)
		return m.State == Ready
	})
	ids, err = q.QueueSelection("retry", name)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = q.QueueBatch(ctx, "retry", name, "", ids, true, time.Time{}); err != nil || b.Changed != 1 || b.HeldEach != 1 {
		t.Fatalf("retry with one message held: %+v, %v; want 1 due, 1 held each", b, err)
	}
}
