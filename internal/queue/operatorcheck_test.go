package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Resume applies to a suspended or poison message only: a message
// waiting for a retry, or held by its queue's suspension, is refused and
// left as it was (not "resumed" with only its next time moved). The
// action and StateView.Refusal — the dry run's check — agree.
func TestResumeRefusesWhatIsNotSuspended(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	ctx := context.Background()
	m := msg(s, "a@example.org", "b@example.net")
	m.State, m.Attempts, m.LastError, m.NextAttempt = Ready, 1, "451 4.4.1 connection refused", clk.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	err := q.ResumeMessage(ctx, m.ID)
	if !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("resume of a message waiting for a retry: %v", err)
	}
	if got, _ := q.Message(m.ID); got.State != Ready || !got.NextAttempt.Equal(m.NextAttempt) || got.LastError != m.LastError {
		t.Errorf("the refused resume changed the message: %+v", got)
	}
	if rerr := q.StateView().Refusal("resume", m); rerr == nil || rerr.Error() != err.Error() {
		t.Errorf("the dry run's check says %v, the action %v", rerr, err)
	}
	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.ResumeMessage(ctx, m.ID); err != nil {
		t.Fatalf("resume of a suspended message: %v", err)
	}
}
