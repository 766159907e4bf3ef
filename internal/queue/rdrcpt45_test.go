package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, OPS (rdrcpt45): "once per mark". A mark that already stood when
// the receipt marked its message untracked (made and tracked meanwhile by
// another path: the holder unreachable past the takeover bound, a copy
// rolled back there) is no new mark: the receipt's TrackSingleCopy at its
// end wrote a second "single-copy" event for it, the counter counting
// one loss twice.
func TestUntrackedMarkOnStandingMarkTrackedOnce(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	n := 0
	// The first mark is a push with no reply: its event is
	// "copy-unconfirmed" (receipt48 item 2); one event for the mark,
	// whichever its name.
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "single-copy" || name == "copy-unconfirmed" {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk, Events: ev})
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-c", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// Marked, and tracked, before the receipt's failed push is noted.
	if err := q.MarkSingleCopy(m.ID, "hub-c", ""); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopyUntracked(m.ID, "hub-c", "452 4.3.1 full"); err != nil {
		t.Fatal(err)
	}
	q.TrackSingleCopy(m.ID)
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("%d single-copy or copy-unconfirmed events for one mark, want 1", n)
	}
}

// A receipt's untracked mark that no candidate settled is tracked once,
// however often TrackSingleCopy is called for it.
func TestUntrackedMarkTrackedOnceByItsReceipt(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	n := 0
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "single-copy" {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk, Events: ev})
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-c", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSingleCopyUntracked(m.ID, "hub-c", "452 4.3.1 full"); err != nil {
		t.Fatal(err)
	}
	q.TrackSingleCopy(m.ID)
	q.TrackSingleCopy(m.ID)
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("%d single-copy events for one mark, want 1", n)
	}
}
