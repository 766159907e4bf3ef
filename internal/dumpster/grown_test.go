package dumpster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SMTP-5, RT-7 (README "What a size limit measures"; rrsize43): the
// dumpster's copy keeps what the receiving sessions added to the
// message (queue.Message.Grown), through the record it is kept in: a
// copy resubmitted by a redelivery request holds the same body, and size
// limits on its way back to the mailbox (a site link's, a routing group
// connector's) hold it as its sender sent it, as they held the first.
// Copy dropped it: the copy came back counted with umbra's own bytes
// (an Authentication-Results field, a CR before each bare LF) as the
// sender's, and a message sent at exactly a limit was refused for it.
func TestCopyKeepsGrown(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	arrived := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &queue.Message{ID: queue.ID(arrived.UnixMicro()), State: queue.Ready, From: "a@example.org", Arrived: arrived, Size: 20400,
		Grown: 371, GrownKnown: true, Rcpts: []queue.Recipient{{Addr: "x@example.test", Status: queue.Delivered}}}
	k := queue.DumpsterKey{Database: "DB1", KeptAt: arrived.Add(time.Hour), ID: m.ID}
	if err := store.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.DumpsterPut(k, Copy(m, []int{0}), []byte("x"))
	}); err != nil {
		t.Fatal(err)
	}
	var cp *queue.Message
	store.View(func(tx *queue.Tx) error {
		cp, err = tx.DumpsterCopy(k)
		return err
	})
	if err != nil || cp == nil || !cp.GrownKnown || cp.Grown != 371 {
		t.Fatalf("the kept copy: %+v, %v; want Grown 371, known", cp, err)
	}
}
