package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// rt47 F2's sibling (OPS-3): a queue whose messages a db restore left
// held (restored suspended) — not the operator's message suspend — was
// refused by queue resume and retry as "held (message suspend)", and a
// resume of the queue suspended as a queue counted them "held one by one
// (message suspend)": both now say what holds them, and the warning a
// resume of them needs (they may have been delivered already).
func TestQueueOfRestoredSuspendedSaysWhatHoldsThem(t *testing.T) {
	sq := deferredSlowQueue(t, 2, time.Hour)
	q, ctx := sq.q, sq.ctx
	const name = "mx:slow.example"
	for _, m := range sq.ms {
		if err := q.SuspendMessage(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	// One of them held as a restore holds it (restoreGone.go).
	if err := q.store.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(sq.ms[1].ID)
		if err != nil {
			return err
		}
		m.LastError = restoreGoneHold
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"resume", "retry"} {
		ids, err := q.QueueSelection(action, name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.QueueBatch(ctx, action, name, "", ids, true, time.Time{})
		if !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), "restored suspended by db restore") ||
			!strings.Contains(err.Error(), "1 message held one by one (message suspend)") {
			t.Errorf("queue %s of a queue with a message a restore holds: %v; want the refusal to tell the restore's hold from the operator's", action, err)
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
	if err != nil || b.HeldEach != 2 || b.HeldRestored != 1 {
		t.Fatalf("resume of the suspended queue: %+v, %v; want 2 held each, 1 of them restored suspended", b, err)
	}
	if txt := HeldEachRestoredText(name, b.HeldEach, b.HeldRestored); !strings.Contains(txt, "1 message restored suspended by db restore") {
		t.Fatalf("the resume's words: %q", txt)
	}
}
