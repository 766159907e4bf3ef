package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// committedCheck is an Events receiver that, when an attempt's result
// events reach it (one by one, or when its batch ends: where the
// tracking log writes them), reads the database and notes every event
// whose result the database does not hold yet.
type committedCheck struct {
	s       *Store
	batches bool
	mu      sync.Mutex
	seen    []string
	ahead   []string
}

func (c *committedCheck) check(name string, id ID, addr string) {
	var state string
	err := c.s.View(func(tx *Tx) error {
		m, err := tx.Get(id)
		if errors.Is(err, ErrNotFound) {
			state = "gone"
			return nil
		}
		if err != nil {
			return err
		}
		state = m.State.String()
		for _, r := range m.Rcpts {
			if r.Addr == addr && m.State == Active {
				state += "/" + r.Status.String()
			}
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, name+" "+addr)
	if err != nil || state != "gone" && !strings.HasPrefix(state, "Ready") && !strings.HasPrefix(state, "ready") {
		c.ahead = append(c.ahead, fmt.Sprintf("%s %s: database holds %s (%v)", name, addr, state, err))
	}
}

func (c *committedCheck) Event(name string, m *Message, r *Recipient, reply string) {
	if name == "send" || name == "defer" || name == "fail" {
		c.check(name, m.ID, r.Addr)
	}
}

func (c *committedCheck) Batch() (Events, func()) {
	if !c.batches {
		return c, func() {}
	}
	type ev struct {
		name, addr string
		id         ID
	}
	var held []ev
	return eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
			if name == "send" || name == "defer" || name == "fail" {
				held = append(held, ev{name, r.Addr, m.ID})
			}
		}), func() {
			for _, e := range held {
				c.check(e.name, e.id, e.addr)
			}
		}
}

func (c *committedCheck) report() (seen, ahead []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...), append([]string(nil), c.ahead...)
}

// TestResultEventsFollowTheCommit: an attempt's result events (send,
// defer, fail) reach the tracking log only after the commit of those
// results returned, batched or not: a kill -9 between the two then
// leaves a log that misses lines, never one that says a recipient was
// sent, deferred or failed while the database still holds the attempt
// as in progress (it is attempted again after the restart).
func TestResultEventsFollowTheCommit(t *testing.T) {
	for _, batches := range []bool{false, true} {
		t.Run(fmt.Sprintf("batches=%v", batches), func(t *testing.T) {
			s := openTest(t)
			ev := &committedCheck{s: s, batches: batches}
			q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				var out []Result
				for _, i := range rcpts {
					oc, reply := RelayedOK, "250 ok"
					switch {
					case strings.HasPrefix(m.Rcpts[i].Addr, "later"):
						oc, reply = Deferred, "451 4.3.0 later"
					case strings.HasPrefix(m.Rcpts[i].Addr, "never"):
						oc, reply = FailedPerm, "550 5.1.1 no"
					}
					out = append(out, Result{Rcpt: i, Outcome: oc, Queue: "mx:example.net", Reply: reply})
				}
				return out
			}), ManagerConfig{Events: ev, RetrySchedule: []time.Duration{time.Hour}})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m := msg(s, "", "b@example.net", "later@example.net", "never@example.net")
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the attempt's events", func() bool { seen, _ := ev.report(); return len(seen) == 3 })
			if _, ahead := ev.report(); len(ahead) > 0 {
				t.Fatalf("result events came before their commit:\n%s", strings.Join(ahead, "\n"))
			}
		})
	}
}
