package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, OPS (the tracking log): a message that becomes held by this
// server only — its shadow copy lost with its server's database here —
// leaves a "single-copy" event in the tracking log saying why, once:
// `umbra track` follows a message through the moment its redundancy
// was lost, not only the log and the views of the moment.
func TestSingleCopyMarkIsTracked(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var got []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "single-copy" {
			mu.Lock()
			got = append(got, m.ID.String()+" "+reply)
			mu.Unlock()
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk, Events: ev})
	ctx := context.Background()
	m := receiptCopy(s, "x@b.example", "y@c.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"db1", "db2", "db2", "db3"} {
		if _, _, err := q.ShadowHolderSeen("hub-b", db); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("single-copy events %q, want one (the mark made once, not again while it stands)", got)
	}
	if !strings.HasPrefix(got[0], m.ID.String()+" held by this server only since") || !strings.Contains(got[0], "hub-b") {
		t.Errorf("single-copy event %q: want the message's id and why, naming hub-b", got[0])
	}
}

// SR-6 (rr rrmix39): one commit that makes a message held by this server
// only, settles that mark and makes it again — writers of one batch on
// the same message: the mark made, the copy made again, the new copy
// lost — leaves one mark and one single-copy event, not one per write
// (Tx.marked had the message twice, and the store tracked each).
func TestSingleCopyMarkTrackedOncePerCommit(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var got []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "single-copy" {
			mu.Lock()
			got = append(got, m.ID.String())
			mu.Unlock()
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk, Events: ev})
	m := receiptCopy(s, "x@b.example")
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	mark := func(tx *Tx) error { return tx.markSingle(m.ID, "hub-b", clk.Now()) }
	batch := []*op{{fn: mark}, {fn: func(tx *Tx) error { return tx.dropMark(m.ID.Key()) }}, {fn: mark}}
	for i, err := range s.commit(batch) {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Errorf("single-copy events %q for one mark standing after one commit, want one", got)
	}
}
