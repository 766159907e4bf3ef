package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// rt28 F3: a retry of a suspended queue, or of a message its suspended
// queue holds, attempts nothing (the suspension holds the mail): it is
// refused with ErrQueueSuspended naming the resume, not reported done.
// Once resumed, a retry applies again.
func TestRetryOfSuspendedQueueIsRefused(t *testing.T) {
	sq := suspendedSlowQueue(t, 1, time.Hour)
	q, ctx, m := sq.q, sq.ctx, sq.ms[0]
	before, _ := q.Message(m.ID)
	n, err := q.RetryQueue(ctx, "mx:slow.example")
	if !errors.Is(err, ErrQueueSuspended) || n != 0 || !strings.Contains(err.Error(), "umbra queue resume mx:slow.example") {
		t.Errorf("retry of a suspended queue: %d, %v; want refused, naming the resume", n, err)
	}
	err = q.RetryMessage(ctx, m.ID)
	if !errors.Is(err, ErrQueueSuspended) || !strings.Contains(err.Error(), "mx:slow.example") {
		t.Errorf("retry of a held message: %v; want refused, naming its queue", err)
	}
	if after, _ := q.Message(m.ID); !after.NextAttempt.Equal(before.NextAttempt) || after.ManualRetry {
		t.Errorf("the refused retries changed the message: %v -> %v", before.NextAttempt, after.NextAttempt)
	}
	if _, err := q.ResumeQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	// The resume makes it due at once: an attempt of it may be under
	// way (ErrBusy); once none is, a retry applies.
	waitFor(t, "a retry that applies after the resume", func() bool {
		err := q.RetryMessage(ctx, m.ID)
		if err != nil && !errors.Is(err, ErrBusy) {
			t.Fatalf("retry after the resume: %v", err)
		}
		return err == nil
	})
}
