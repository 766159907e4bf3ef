package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue/queuetest"
)

// a
// message leaving delivery by a hold whose commit fails (a full disk)
// stays Active in the database, in no time index, and nothing tries that
// commit again while the daemon runs — requeue and poison strand the
// message (stranded.go, doc.go point 5), the hold only logs. Q-5.
func TestQ3FailedHoldCommitIsRetried(t *testing.T) {
	for _, how := range []string{"requeue", "hold"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			s := openTest(t)
			q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
				ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 48 * time.Hour})
			m := msg(s, "s@example.org", "r@x.example")
			m.Arrived = clk.Now()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			setState(t, s, m.ID, Active) // claimed: in delivery
			got, err := q.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			got.State = Active
			restore := queuetest.BreakWrites(t, s.db.Path()) // the disk fills
			if how == "hold" {
				q.holdSettled(ctx, got)
			} else {
				q.requeue(got)
			}
			restore() // room again
			clk.Advance(strandedRetry + time.Second)
			q.retryStranded()
			after, err := q.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.State == Active {
				t.Fatalf("%s whose commit failed: the message is still %v after the disk has room and the stranded retry ran; nothing will attempt it before a restart", how, after.State)
			}
		})
	}
}
