package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt17d-F6: a queue redirect sends a message to a host the operator
// names, which no DANE or MTA-STS policy of the recipient's domain
// verifies; a REQUIRETLS message (RFC 8689) would fail there at once
// with 5.7.10. Its recipients stay in their queue, attempted on their
// own route; the others move.
func TestRedirectKeepsRequireTLSMessages(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	plain := msg(s, "a@example.org", "x@slow.example")
	if err := q.Submit(ctx, plain, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	strict := msg(s, "a@example.org", "y@slow.example")
	strict.RequireTLS = true
	if err := q.Submit(ctx, strict, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	for _, id := range []ID{plain.ID, strict.ID} {
		waitFor(t, "deferral", func() bool { got, _ := q.Message(id); return got != nil && got.State == Ready })
	}
	if n, err := q.RedirectQueue(ctx, "mx:slow.example", "127.0.0.9:2525"); err != nil || n != 1 {
		t.Fatalf("redirect: %d messages, %v; want 1 (the REQUIRETLS one kept)", n, err)
	}
	if got, _ := q.Message(strict.ID); got.Rcpts[0].Redirect != "" || got.Rcpts[0].Queue != "mx:slow.example" {
		t.Fatalf("REQUIRETLS recipient redirected: %+v", got.Rcpts[0])
	}
	if got, _ := q.Message(plain.ID); got.Rcpts[0].Redirect != "127.0.0.9:2525" {
		t.Fatalf("plain recipient not redirected: %+v", got.Rcpts[0])
	}
}
