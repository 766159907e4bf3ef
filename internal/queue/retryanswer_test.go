package queue

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt51 F7: `queue retry` on a full disk answered with the commit's
// error alone (exit 1, "nothing done"), yet it had ended the cool-down of
// the dead destinations, and mail already due to them went out at once.
// The answer now says what was done before the failure.
func TestRetryQueueFailureSaysWhatItRevived(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	m := msg(s, "a@example.org", "x@example.test")
	m.State, m.NextAttempt = Ready, clk.Now().Add(time.Hour)
	m.Rcpts[0].Queue = "smarthost:dead"
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	q.sched.mu.Lock()
	d := q.sched.destFor("smarthost:dead|192.0.2.1:25", "smarthost:dead", 0)
	d.deadUntil = clk.Now().Add(time.Minute)
	q.sched.mu.Unlock()
	s.setCommitFault(func(*Tx) error { return fmt.Errorf("write queue.db: %w", syscall.ENOSPC) })
	_, err := q.RetryQueue(context.Background(), "smarthost:dead")
	if err == nil {
		t.Fatal("the retry's commit failed, yet it answered success")
	}
	if !strings.Contains(err.Error(), "192.0.2.1:25") || !strings.Contains(err.Error(), "revived") {
		t.Fatalf("the failure does not say the dead destination was revived: %v", err)
	}
}
