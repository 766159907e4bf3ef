package dumpster

import (
	"context"
	"testing"
	"time"

	"umbra/internal/queue"
)

// ops48, life49: a message whose age clock a release moved (Received
// keeps its receipt) goes to the dumpster with its first receipt, and a
// redelivery resubmits it with that receipt kept: message show and the
// DSN's Arrival-Date name when the organisation received it, not the
// release nor the resubmission; its age (expiry, delay notice) counts
// from the resubmission.
func TestOps48DumpsterKeepsTheFirstReceipt(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	received := t0.Add(-3 * time.Hour)
	m := &queue.Message{ID: r.mgr.NewID(), From: "a@example.org", MessageID: "<r@test>", OrgID: "0123456789abcdef0123456789abcdef",
		Arrived: t0.Add(-10 * time.Minute), OrgEarlier: 20 * time.Second, // the clock a resume moved
		Received: received.Add(time.Minute), ReceivedEarlier: time.Minute, // the receipt it kept
		Rcpts: []queue.Recipient{{Addr: "bob@example.test"}}}
	if err := r.mgr.Submit(context.Background(), m, []byte("Message-ID: <r@test>\r\n\r\nx")); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	r.clk.Advance(time.Minute)
	req, _, err := r.d.Redeliver(context.Background(), "fo-r", "DB1", t0.Add(-time.Hour))
	if err != nil || req.Resubmitted != 1 {
		t.Fatalf("redeliver: %+v, %v", req, err)
	}
	r.waitEmpty()
	r.mu.Lock()
	got := r.received["<r@test>"]
	r.mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("attempts %v, want the first and the redelivery's", got)
	}
	for i, at := range got {
		if !at.Equal(received) {
			t.Errorf("attempt %d: received %v, want the first receipt %v", i+1, at, received)
		}
	}
}
