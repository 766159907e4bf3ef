package dumpster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A redelivery request whose stored record does not decode (here a
// phase no release writes) is set aside: kept as stored, counted and
// named (DamagedRequests), never resumed — and it does not keep an
// interrupted request beside it from being finished at the start. The
// same request id asked again is refused saying so, never taken for a
// commit that failed.
func TestDamagedRequestSetAside(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 2; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	err := r.store.Update(context.Background(), func(tx *queue.Tx) error {
		if err := tx.PutRequest(&queue.Request{ID: "bad", Database: "DB1", Since: t0, Started: r.clk.Now(), FirstID: tx.NewID(r.clk.Now()), Phase: 9}); err != nil {
			return err
		}
		return tx.PutRequest(&queue.Request{ID: "crashed", Database: "DB1", Since: t0, Started: r.clk.Now(), FirstID: tx.NewID(r.clk.Now())})
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.copies("<2@test>|bob@example.test") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := r.copies("<2@test>|bob@example.test"); got != 2 {
		t.Fatalf("the interrupted request beside a damaged one: %d copies, want 2", got)
	}
	if got := r.d.DamagedRequests(); len(got) != 1 || got[0] != "bad" {
		t.Fatalf("DamagedRequests = %q, want bad", got)
	}
	_, _, err = r.d.Redeliver(context.Background(), "bad", "DB1", t0)
	if !errors.Is(err, queue.ErrDamagedRequest) || errors.Is(err, ErrNotStored) || !strings.Contains(err.Error(), "new request id") {
		t.Fatalf("the damaged request's id again: %v", err)
	}
	if got := r.d.DamagedRequests(); len(got) != 1 {
		t.Fatalf("after the refusal: %q, want it kept", got)
	}
}
