package dumpster

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/queue"
)

// TD-2: a dumpster copy whose record does not decode cannot be made
// again. Redelivery removed it from the dumpster without a word: the
// request's summary (its count of copies not resubmitted, which the
// command's output and the audit line give) left it out and no log line
// named it, so the operator took the window as redelivered whole. It is
// counted with the copies not resubmitted and named in the log by its
// queue id, as a copy without content is.
func TestTD2RedeliveryCountsAndNamesUndecodableCopy(t *testing.T) {
	cfg := Config{MaxSizePerDatabase: 64 << 20, MaxTime: 24 * time.Hour}
	r := newRig(t, cfg)
	r.send(1, 300)
	r.clk.Advance(time.Minute)
	r.send(2, 300)
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2" {
		t.Fatalf("kept %q", got)
	}
	now := r.clk.Now()
	r.stop()

	// Message 2's dumpster record made unreadable in the file.
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var damaged string
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("dumpster"))
		c := b.Cursor()
		var last []byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			last = bytes.Clone(k)
		}
		if last == nil {
			t.Fatal("no dumpster record in the file")
		}
		return b.Put(last, []byte{0xff, 0xfe, 0x00, 0x01})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	r2 := newRigAt(t, r.path, cfg)
	r2.clk.Advance(now.Add(time.Minute).Sub(t0))
	r2.store.View(func(tx *queue.Tx) error {
		tx.DumpsterScan("DB1", time.Time{}, func(e queue.DumpsterEntry) bool {
			if e.Err != nil {
				damaged = e.Key.ID.String()
			}
			return true
		})
		return nil
	})
	if damaged == "" {
		t.Fatal("the damaged record reads as sound")
	}
	req, _, err := r2.d.Redeliver(context.Background(), "fo-undecodable", "DB1", t0)
	if err != nil || req.Phase != queue.Done {
		t.Fatalf("redeliver: %+v err %v", req, err)
	}
	if req.Resubmitted != 1 || req.Skipped != 1 {
		t.Fatalf("resubmitted %d, not resubmitted %d; want 1 and 1: the copy whose record does not decode is counted",
			req.Resubmitted, req.Skipped)
	}
	logs := r2.logs.String()
	if !strings.Contains(logs, "dumpster copy not resubmitted") || !strings.Contains(logs, "msg_id="+damaged) {
		t.Fatalf("no log line names the copy %s:\n%s", damaged, logs)
	}
	// OPS-42 (item 3's sibling): the copy left the dumpster counted, as
	// every other leave is — kept - resubmitted - evictions is what
	// the dumpster holds.
	if n := r2.obs.get(ReasonUnreadable); n != 1 {
		t.Errorf("evictions %q: %d, want 1 (the copy not resubmitted)", ReasonUnreadable, n)
	}
}
