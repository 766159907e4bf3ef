package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17, SR-8: the copy on receipt reaches this hub after the original its
// primary relayed here in a shadow session was delivered here already
// (the relay overtook the copy, which waits for its batch: up to two
// tries of 10 s, and a local delivery takes milliseconds). Nothing here
// settles the copy: mergeIntoRelayedHere finds no original any more,
// and the primary's discard of the org id comes only after it has heard
// of the delivery (its next contact with this hub, then this hub's next
// heartbeat of it). A kill -9 of the primary in that time has this hub
// take the copy over and deliver the message a second time — the very
// duplicate nexthopcopy.go closes for an original still queued. The
// bucket finished names the recipients finished here for the org id and
// the relaying server: the copy's recipients found there are settled
// in the commit that stores it.
func TestReceiptCopyArrivingAfterRelayedOriginalDeliveredSettled(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(_ context.Context, m *Message, _ []byte, idx []int) []Result {
		var out []Result
		for _, i := range idx {
			out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250", Database: "DB1"})
		}
		return out
	}), ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	c := receiptCopy(s, "x@b.example")
	m := msg(s, "a@example.org", "x@b.example")
	m.OrgID, m.ShadowServer, m.ShadowID = c.OrgID, "hubA.test", "0000000000000001-relay"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := q.Message(m.ID); errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relayed original was not delivered")
		}
		q.Kick()
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hubA.test", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Message(c.ID); err == nil {
		for _, r := range got.Rcpts {
			if r.Status == Shadowed {
				t.Fatalf("the copy on receipt of a message delivered here is kept for takeover: %s %v (a takeover delivers it again)", r.Addr, r.Status)
			}
		}
	}
}
