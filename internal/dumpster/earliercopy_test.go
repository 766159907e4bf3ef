package dumpster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// earlierCopy's fallback — no delivered record leads to the earlier
// commit's copy (no org id here) — reads the keys kept since the message
// got its queue id, at most earlierCopyScan of them (TD-1: a Keep runs in
// the group commit, and a database's dumpster may hold far more copies
// than that). A copy found within the bound takes the new recipients;
// past it a copy of their own is kept (the body counted twice, each
// recipient still in exactly one copy).
func TestEarlierCopyFallbackBounded(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	arrived := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := arrived.Add(24 * time.Hour)
	m := &queue.Message{ID: queue.ID(arrived.UnixMicro()), State: queue.Ready, From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "x@example.test", Status: queue.Delivered}, {Addr: "y@example.test"}}}
	for _, c := range []struct {
		before int // other messages' copies kept before m's
		found  bool
	}{{10, true}, {earlierCopyScan + 10, false}} {
		db := map[bool]string{true: "NEAR", false: "FAR"}[c.found]
		own := queue.DumpsterKey{Database: db, KeptAt: arrived.Add(time.Hour), ID: m.ID}
		if err := store.Update(context.Background(), func(tx *queue.Tx) error {
			for i := range c.before {
				o := &queue.Message{ID: m.ID + queue.ID(1+i), State: queue.Ready, Rcpts: []queue.Recipient{{Addr: "o@example.test"}}}
				k := queue.DumpsterKey{Database: db, KeptAt: arrived.Add(time.Duration(i+1) * time.Millisecond), ID: o.ID}
				if err := tx.DumpsterPut(k, o, []byte("x")); err != nil {
					return err
				}
			}
			return tx.DumpsterPut(own, Copy(m, []int{0}), []byte("x"))
		}); err != nil {
			t.Fatal(err)
		}
		var got queue.DumpsterKey
		var ok bool
		store.View(func(tx *queue.Tx) error {
			got, ok = earlierCopy(tx, m, db, []int{1}, now)
			return nil
		})
		if ok != c.found || (ok && (got.ID != own.ID || !got.KeptAt.Equal(own.KeptAt))) {
			t.Errorf("%d copies before it: earlierCopy = %+v, %v; want found %v", c.before, got, ok, c.found)
		}
	}
}
