package queue

import (
	"context"
	"testing"
	"time"
)

// A sender waiting on a message learns how it left: a mailbox delivery
// here, a relay to a next hop, or a failure.
func TestDepartureTellsHowAMessageLeft(t *testing.T) {
	for outcome, want := range map[Outcome]string{DeliveredOK: DepartedDelivered, RelayedOK: DepartedRelayed, FailedPerm: DepartedFailed} {
		s := openTest(t)
		gate := make(chan struct{})
		del := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
			<-gate
			var out []Result
			for _, i := range rcpts {
				out = append(out, Result{Rcpt: i, Outcome: outcome, Reply: "250 ok"})
			}
			return out
		})
		q := NewManager(s, del, ManagerConfig{Hostname: "mx.test"})
		ctx, cancel := context.WithCancel(context.Background())
		q.Start(ctx)
		m := msg(s, "", "b@example.net") // null sender: no DSN for a failure
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		gone, stop := q.WaitGone(m.ID)
		close(gate)
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			t.Fatal("the message never left")
		}
		stop()
		if got := q.Departure(m.ID); got != want {
			t.Errorf("outcome %d: departure %q, want %q", outcome, got, want)
		}
		if got := q.Departure(m.ID); got != "" {
			t.Errorf("a departure is told once, then forgotten: %q", got)
		}
		cancel()
		q.Wait()
	}
}
