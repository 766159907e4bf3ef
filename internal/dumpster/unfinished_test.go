package dumpster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/queue/queuetest"
)

// rt21 F9: a redelivery request whose own record was stored and whose
// later commits failed (a full database) answered a bare storage error,
// although the request is finished at the next start or by a retry with
// the same id — and a new id would resubmit everything a second time.
// The error says which (ErrUnfinished, naming the request id, what was
// done so far and what to do); a request that could not even be stored
// says that nothing was done and nothing will be (ErrNotStored).
func TestRedeliveryThatCannotCommitSaysWhatHolds(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	n := resubmitBatch + 3 // two steps of resubmission
	for i := 1; i <= n; i++ {
		m := &queue.Message{ID: r.mgr.NewID(), From: "a@example.org", MessageID: fmt.Sprintf("<%d@test>", i), OrgID: fmt.Sprintf("%032x", i),
			Rcpts: []queue.Recipient{{Addr: "bob@example.test"}}}
		if err := r.mgr.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	r.waitEmpty()

	// Nothing can be written: the request is not stored.
	restore := queuetest.BreakWrites(t, r.path)
	_, _, err := r.d.Redeliver(context.Background(), "fo-0", "DB1", t0)
	restore()
	if !errors.Is(err, ErrNotStored) || errors.Is(err, ErrUnfinished) || !strings.Contains(err.Error(), "fo-0") ||
		!strings.Contains(err.Error(), "nothing was resubmitted") {
		t.Fatalf("a request that could not be stored: %v", err)
	}
	r.store.View(func(tx *queue.Tx) error {
		if _, err := tx.Request("fo-0"); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("request fo-0 stored: %v", err)
		}
		return nil
	})

	// The request is stored and its first step committed; the disk
	// fills before the second.
	r.obs.mu.Lock()
	r.obs.onResubmitted = func() { restore = queuetest.BreakWrites(t, r.path) }
	r.obs.mu.Unlock()
	_, _, err = r.d.Redeliver(context.Background(), "fo-1", "DB1", t0)
	restore()
	r.obs.mu.Lock()
	r.obs.onResubmitted = nil
	r.obs.mu.Unlock()
	if !errors.Is(err, ErrUnfinished) || !strings.Contains(err.Error(), "request fo-1 is stored but not finished") ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d copies resubmitted", resubmitBatch)) || !strings.Contains(err.Error(), "next start") ||
		!strings.Contains(err.Error(), "same request id") {
		t.Fatalf("a request stored and not finished: %v", err)
	}
	// Retried while the disk is still full: still stored, not finished.
	restore = queuetest.BreakWrites(t, r.path)
	_, _, err = r.d.Redeliver(context.Background(), "fo-1", "DB1", t0)
	restore()
	if !errors.Is(err, ErrUnfinished) || errors.Is(err, ErrNotStored) {
		t.Fatalf("the retry on a full disk: %v", err)
	}
	// The retry with the same id finishes it, and resubmits each copy once.
	req, out, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0)
	if err != nil || out != Resumed || req.Resubmitted != n {
		t.Fatalf("the retry: %+v %v %v", req, out, err)
	}
	r.waitEmpty()
}
