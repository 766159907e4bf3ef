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

// discardBatcher records the events of copies discarded, and the ends
// of their batches.
type discardBatcher struct{ batchingEvents }

func (b *discardBatcher) Batch() (Events, func()) {
	var held []string
	return eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
			held = append(held, "batched "+name)
		}), func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.out = append(b.out, held...)
			b.out = append(b.out, "end")
		}
}

// The "discard" events of the copies one batch of a primary's discard
// notifications removes are written as one batch (one write of their
// lines, not one per copy), whether the batch came in a contact
// (heartbeat, watch session) or on its own.
func TestDiscardEventsBatched(t *testing.T) {
	s := openTest(t)
	ev := &discardBatcher{}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	var ids []string
	for i := 0; i < 5; i++ {
		m := receiptCopy(s, "x@b.example")
		if stored, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
			t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
		}
		ids = append(ids, m.OrgID)
	}
	if res, err := q.ShadowContact("hub-a", "dbA", ids[:3]); err != nil || res.Discarded != 3 {
		t.Fatalf("ShadowContact = %+v, %v", res, err)
	}
	if n, err := q.ApplyDiscards("hub-a", ids[3:]); err != nil || n != 2 {
		t.Fatalf("ApplyDiscards = %d, %v", n, err)
	}
	want := strings.Repeat("batched shadow\nend\n", 5) + strings.Repeat("batched discard\n", 3) + "end\n" + strings.Repeat("batched discard\n", 2) + "end"
	if got := ev.lines(); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
}

// The "shadow" events of the copies one pushed batch keeps are written as
// one batch (one write of their lines, not one per copy): a busy
// primary's copies on receipt come by the hundred. A copy refused, or
// kept already (a repeated push), has no event.
func TestShadowCopyEventsBatched(t *testing.T) {
	s := openTest(t)
	ev := &discardBatcher{}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	kept := receiptCopy(s, "x@b.example")
	if stored, err := q.SubmitShadowCopy(ctx, kept, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v", stored, err)
	}
	again := *kept
	again.Rcpts = append([]Recipient(nil), kept.Rcpts...)
	copies := []ShadowCopy{
		{M: receiptCopy(s, "y@b.example"), Body: MemBody([]byte(body))},
		{M: receiptCopy(s), Body: MemBody([]byte(body))}, // no recipients: refused
		{M: &again, Body: MemBody([]byte(body))},         // kept already
		{M: receiptCopy(s, "z@b.example"), Body: MemBody([]byte(body))},
	}
	res, err := q.SubmitShadowCopies(ctx, copies, "hub-a", "127.0.0.1:25", "dbA")
	if err != nil || !res[0].Stored || res[1].Err == nil || !res[2].Stored || !res[3].Stored {
		t.Fatalf("SubmitShadowCopies = %+v, %v", res, err)
	}
	want := "batched shadow\nend\nbatched shadow\nbatched shadow\nend"
	if got := ev.lines(); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
}
