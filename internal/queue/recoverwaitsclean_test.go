package queue

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// After a clean stop (no message in delivery) on a full disk, the start
// says so (RecoveryWaitsError.InDelivery 0); the retry that commits,
// and the error the start logs, said all the same that messages in
// delivery at the last stop were recovered and are due now, or that
// their recovery waited: words about messages that were not there.
func TestRecoveryRetryAfterCleanStopSaysNoneWereInDelivery(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	ready := msg(s, "a@example.org", "c@example.net")
	ready.State = Ready
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(ready, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 100, Clock: clk, PoisonThreshold: 5,
		Log: slog.New(slog.NewTextHandler(&logged, nil))})
	s.setCommitFault(func(*Tx) error { return syscall.ENOSPC })
	_, _, err := q.Recover(context.Background())
	s.setCommitFault(nil)
	if err == nil {
		t.Fatal("Recover on a full disk succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "recovery of the messages in delivery") {
		t.Errorf("Recover's error after a clean stop: %q; want no word of messages in delivery", msg)
	}
	clk.Advance(recoveryRetry)
	q.retryRecovery(context.Background())
	if out := logged.String(); !strings.Contains(out, "no message was in delivery at the last stop") || strings.Contains(out, "they are due now") {
		t.Errorf("the retry's log after a clean stop:\n%s\nwant it to say no message was in delivery", out)
	}
}
