package queue

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// Q-1, OPS tracking (opsrt40 F8): the tracking "remove" event of an
// operator's removal lists the recipients the removal took — those
// still pending —, not a recipient delivered before it: track
// --recipient for the delivered one must not show its copy removed.
// With a DSN and without.
func TestOPSRemoveEventListsOnlyTheRecipientsItTook(t *testing.T) {
	for _, ndr := range []bool{true, false} {
		s := openTest(t)
		var mu sync.Mutex
		var removed [][]string
		ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
			if name != "remove" {
				return
			}
			var addrs []string
			for _, rc := range m.Rcpts {
				addrs = append(addrs, rc.Addr)
			}
			mu.Lock()
			removed = append(removed, addrs)
			mu.Unlock()
		})
		q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
			var out []Result
			for _, i := range rcpts {
				if m.Rcpts[i].Addr == "alice@example.test" {
					out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox", Reply: "250 ok"})
					continue
				}
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:far.test", Reply: "451 4.4.1 later"})
			}
			return out
		}), ManagerConfig{Events: ev, RetrySchedule: []time.Duration{time.Hour}})
		ctx, cancel := context.WithCancel(context.Background())
		q.Start(ctx)
		m := msg(s, "a@example.org", "x4@far.test", "alice@example.test")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first attempt", func() bool { got, err := q.Message(m.ID); return err == nil && got.State == Ready && got.Attempts > 0 })
		if err := q.RemoveMessage(ctx, m.ID, ndr); err != nil {
			t.Fatal(err)
		}
		cancel()
		q.Wait()
		mu.Lock()
		if len(removed) != 1 || !slices.Equal(removed[0], []string{"x4@far.test"}) {
			t.Errorf("ndr %v: remove events list %v, want [[x4@far.test]] (alice was delivered before the removal)", ndr, removed)
		}
		mu.Unlock()
	}
}
