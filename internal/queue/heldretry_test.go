package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt28 F3: a retry of a suspended queue, or of a message its suspended
// queue holds, attempts nothing (the suspension holds the mail): it is
// refused with ErrQueueSuspended naming the resume, not reported done.
// Once resumed, a retry applies again.
func TestRetryOfSuspendedQueueIsRefused(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@slow.example")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "the deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got.State == Ready && got.Attempts == 1
	})
	if err := q.SuspendQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
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
