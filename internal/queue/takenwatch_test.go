package queue

import (
	"testing"
	"time"
)

// A primary stays watched while a copy taken over from it is here and
// not yet handed on, wherever that copy waits: its shadow queue, or —
// once its attempt found its route suspended — the route's queue,
// held. Its discard notification, fetched by that watch, is what drops
// the copy when the primary returns and delivers the original (rt29 F3:
// with every copy out of shadow:PRIMARY, nothing was fetched and each
// went out twice).
func TestPrimaryWatchedWhileTakenOverCopyHeldElsewhere(t *testing.T) {
	to := takeOverAtHubB(t, time.Minute)
	q, clk, m, ctx := to.q, to.clk, to.m, to.ctx
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
