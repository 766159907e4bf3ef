package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// batchingEvents records which events came through a batch and when each
// batch ended.
type batchingEvents struct {
	mu  sync.Mutex
	out []string
}

func (b *batchingEvents) Event(name string, m *Message, r *Recipient, reply string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out = append(b.out, "direct "+name)
}

func (b *batchingEvents) Batch() (Events, func()) {
	var held []string
	return eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
			held = append(held, "batched "+name+" "+r.Addr)
		}), func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.out = append(b.out, held...)
			b.out = append(b.out, "end")
		}
}

func (b *batchingEvents) lines() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.out, "\n")
}

// TestResultEventsBatched: the events of one attempt's results go to a
// batch of an EventBatcher (one per recipient, in order), which ends
// before the next attempt's; events outside results come one by one.
func TestResultEventsBatched(t *testing.T) {
	s := openTest(t)
	ev := &batchingEvents{}
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			oc := RelayedOK
			if strings.HasPrefix(m.Rcpts[i].Addr, "later") {
				oc = Deferred
			}
			out = append(out, Result{Rcpt: i, Outcome: oc, Queue: "mx:example.net", Reply: "250 ok"})
		}
		return out
	}), ManagerConfig{Events: ev, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "b@example.net", "later@example.net", "c@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	want := "direct receive\nbatched send b@example.net\nbatched defer later@example.net\nbatched send c@example.net\nend"
	waitFor(t, "the attempt's events", func() bool { return strings.Contains(ev.lines(), "end") })
	if got := ev.lines(); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
}
