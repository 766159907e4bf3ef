package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A primary stays watched while a copy taken over from it is here and
// not yet handed on, wherever that copy waits: its shadow queue, or —
// once its attempt found its route suspended — the route's queue,
// held. Its discard notification, fetched by that watch, is what drops
// the copy when the primary returns and delivers the original (rt29 F3:
// with every copy out of shadow:PRIMARY, nothing was fetched and each
// went out twice).
func TestPrimaryWatchedWhileTakenOverCopyHeldElsewhere(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := &routedShadow{db: &primaryDB{v: "db1"}}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	d.q = q
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	d.db.set("")
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the taken-over copy's deferral on its route", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	if err := q.SuspendQueue(ctx, "mx:b.example"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	q.Kick()
	waitFor(t, "the copy held in its suspended route's queue", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Rcpts[0].Queue == "mx:b.example"
	})
	watched, err := q.ShadowPrimaries()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := watched["hub-b"]; !ok {
		t.Fatalf("hub-b is not watched while its taken-over copy waits held in mx:b.example: %v", watched)
	}
	// Its discard, fetched by that watch, drops the copy.
	got, _ := q.Message(m.ID)
	if n, err := q.ApplyDiscards("hub-b", []string{got.Rcpts[0].ShadowID}); err != nil || n == 0 {
		t.Fatalf("discard applied to %d copies (%v); shadow id %q", n, err, got.Rcpts[0].ShadowID)
	}
	if _, err := q.Message(m.ID); err == nil {
		t.Fatal("the copy is still here after its primary's discard")
	}
}
