package queue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// TD- (dumpster redelivery; rt38 F4): a copy a redelivery request put
// back in the queue is a repair of a mailbox, not the sender's message,
// which was delivered long before: when it cannot be delivered — it
// expires waiting, or the mailbox refuses it — its sender gets no DSN
// (before: "550 5.4.7 message expired after 6m0s" to the original
// sender). The operator learns of it in the log and the tracking log
// (the fail event names the reply). The same message without the
// redelivery mark gets its DSN.
func TestRedeliveryCopyThatFailsSendsTheSenderNoDSN(t *testing.T) {
	for _, c := range []struct {
		name    string
		outcome Outcome
		reply   string
	}{
		{"expired", Deferred, "451 4.3.0 try later"},
		{"refused", FailedPerm, "550 5.1.1 no such mailbox"},
	} {
		for _, redelivered := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/redelivered=%v", c.name, redelivered), func(t *testing.T) {
				s := openTest(t)
				clk := clock.NewFake(time.Unix(1_700_000_000, 0))
				d := newScripted(func(rcpt string, _ int) (Outcome, string) {
					if rcpt == "s@example.org" {
						return DeliveredOK, "250 2.0.0 ok" // the DSN, should one be made
					}
					return c.outcome, c.reply
				})
				m := msg(s, "s@example.org", "bob@example.test")
				m.Arrived, m.NextAttempt, m.State = clk.Now(), clk.Now(), Ready
				if err := s.Update(context.Background(), func(tx *Tx) error {
					if err := tx.PutNew(m, []byte(body)); err != nil {
						return err
					}
					if !redelivered {
						return nil
					}
					return tx.MarkRedelivery(m.ID, "lost-bob/"+m.ID.String())
				}); err != nil {
					t.Fatal(err)
				}
				ev := &eventLog{}
				q, _ := startManager(t, s, d, ManagerConfig{Clock: clk, Events: ev,
					RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: 6 * time.Minute})
				for k := 0; ; k++ {
					waitFor(t, "the attempt committed", func() bool {
						got, _ := q.Message(m.ID)
						return got == nil || got.State == Ready && got.NextAttempt.After(clk.Now())
					})
					if got, _ := q.Message(m.ID); got == nil {
						break
					}
					if k == 10 {
						t.Fatal("the copy neither failed nor expired")
					}
					clk.Advance(time.Minute)
					q.Kick()
				}
				waitFor(t, "the fail event in the tracking log", func() bool { return ev.has("fail: ") })
				if !redelivered {
					waitFor(t, "the DSN made", func() bool { return ev.has("dsn: ") })
				}
				if got := ev.has("dsn: "); got != !redelivered {
					t.Errorf("redelivered %v: a DSN made %v, want %v: %v", redelivered, got, !redelivered, ev.out)
				}
				if redelivered {
					for _, x := range messages(t, s) {
						if x.From == "" {
							t.Errorf("a DSN to the original sender: %s", strings.Join(ev.out, "; "))
						}
					}
				}
			})
		}
	}
}
