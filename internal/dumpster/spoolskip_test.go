package dumpster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A dumpster copy whose spool file is gone is not resubmitted (it would
// only be "resubmitted" and then go to the poison queue): redelivery
// counts only the copies it put back, and the content-less copy leaves
// the dumpster.
func TestRedeliverySkipsCopyWithoutContent(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 64 << 20, MaxTime: 24 * time.Hour})
	r.send(1, 300) // in memory
	r.clk.Advance(time.Minute)
	// A spooled one: its dumpster copy names the same spool file.
	w, err := r.store.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Message-ID: <2@test>\r\n\r\n" + strings.Repeat("y", 200<<10)))
	body, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{ID: r.mgr.NewID(), From: "a@example.org", MessageID: "<2@test>", OrgID: fmt.Sprintf("%032x", 2),
		Rcpts: []queue.Recipient{{Addr: "bob@example.test"}}}
	if err := r.mgr.SubmitBody(context.Background(), m, body); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2" {
		t.Fatalf("kept %q", got)
	}
	p, _, _ := body.File()
	if err := os.Remove(p); err != nil {
		t.Fatalf("the dumpster copy's spool file: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	r.clk.Advance(time.Minute)
	req, _, err := r.d.Redeliver(context.Background(), "fo-2", "DB1", t0)
	if err != nil || req.Resubmitted != 1 || req.Skipped != 1 || req.Phase != queue.Done {
		t.Fatalf("redeliver: %+v err %v (spool files left %d); want 1 resubmitted, the copy without content skipped", req, err, len(ents))
	}
	r.waitEmpty()
	var poison int
	r.store.View(func(tx *queue.Tx) error {
		tx.ForEach(func(m *queue.Message, _ error) bool {
			if m != nil && m.State == queue.Poison {
				poison++
			}
			return true
		})
		return nil
	})
	if poison != 0 {
		t.Fatalf("%d poison messages after redelivery", poison)
	}
	if got := r.copies("<1@test>|bob@example.test"); got != 2 {
		t.Errorf("message 1 delivered %d times, want 2", got)
	}
	if got := strings.Join(r.kept("DB1"), " "); got != "1" {
		t.Errorf("kept %q after redelivery; the copy without content must leave", got)
	}
}
