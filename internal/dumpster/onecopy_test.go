package dumpster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// summary is database db's totals.
func (r *rig) summary(db string) Summary {
	r.t.Helper()
	sums, err := r.d.Summaries()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, s := range sums {
		if s.Database == db {
			return s
		}
	}
	return Summary{Database: db}
}

// A message is one copy in the dumpster of a database, its size counted
// once, however its recipients there were delivered: in one commit with
// mixed outcomes (one redelivered, one found in the mailbox already) or
// in commits apart (one deferred) — the copy holds them all (TD-1,
// rt16c F4).
func TestOneCopyPerMessageAndDatabase(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	r.send(1, 300, "alice@example.test", "bob@example.test")
	if s := r.summary("DB1"); s.Messages != 1 || s.Bytes != 300 {
		t.Fatalf("after delivery: %+v, want 1 message of 300 bytes", s)
	}

	// The failover lost bob's copy only: alice's is found in the mailbox
	// (kept as found), bob's delivered again, in one commit.
	r.mu.Lock()
	r.storeDedup = true
	delete(r.delivered, "<1@test>|bob@example.test")
	r.mu.Unlock()
	if _, _, err := r.d.Redeliver(context.Background(), "split1", "DB1", t0); err != nil {
		t.Fatal(err)
	}
	r.waitEmpty()
	if s := r.summary("DB1"); s.Messages != 1 || s.Bytes != 300 {
		t.Errorf("after a redelivery with mixed outcomes: %+v, want 1 message of 300 bytes", s)
	}
	checkOneCopy(t, r, "1", "alice@example.test", "bob@example.test")

	// Recipients delivered in commits apart: carol now, dave later.
	r.mu.Lock()
	r.deferRcpt = "dave@example.test"
	r.mu.Unlock()
	m := &queue.Message{ID: r.mgr.NewID(), From: "a@example.org", MessageID: "<2@test>", OrgID: fmt.Sprintf("%032x", 2),
		Rcpts: []queue.Recipient{{Addr: "carol@example.test"}, {Addr: "dave@example.test"}}}
	body := []byte("Message-ID: <2@test>\r\n\r\n" + strings.Repeat("y", 176)) // 200 bytes
	if err := r.mgr.Submit(context.Background(), m, body); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); r.copies("<2@test>|carol@example.test") == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("carol's copy was not delivered")
		}
		r.mgr.Kick()
	}
	r.mu.Lock()
	r.deferRcpt = ""
	r.mu.Unlock()
	r.waitEmpty()
	if s := r.summary("DB1"); s.Messages != 2 || s.Bytes != 500 {
		t.Errorf("after recipients delivered apart: %+v, want 2 messages of 500 bytes", s)
	}
	checkOneCopy(t, r, "2", "carol@example.test", "dave@example.test")

	// The same, for a message an earlier release queued with final dots:
	// the copy holds the canonical addresses (Copy), and the second
	// commit still finds the first's recipient in it.
	r.mu.Lock()
	r.deferRcpt = "fay@example.test."
	r.mu.Unlock()
	m = &queue.Message{ID: r.mgr.NewID(), From: "a@example.org", MessageID: "<3@test>", OrgID: fmt.Sprintf("%032x", 3),
		Rcpts: []queue.Recipient{{Addr: "erin@example.test."}, {Addr: "fay@example.test."}}}
	body = []byte("Message-ID: <3@test>\r\n\r\n" + strings.Repeat("z", 176))
	if err := r.mgr.Submit(context.Background(), m, body); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); r.copies("<3@test>|erin@example.test.") == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("erin's copy was not delivered")
		}
		r.mgr.Kick()
	}
	r.mu.Lock()
	r.deferRcpt = ""
	r.mu.Unlock()
	r.waitEmpty()
	checkOneCopy(t, r, "3", "erin@example.test", "fay@example.test")
}

// checkOneCopy fails t unless database DB1 keeps exactly one copy of
// message n, holding the recipients rcpts.
func checkOneCopy(t *testing.T, r *rig, n string, rcpts ...string) {
	t.Helper()
	es, err := r.d.List("DB1", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	copies := 0
	for _, e := range es {
		if strings.Trim(e.MessageID, "<>@test") != n {
			continue
		}
		copies++
		got = append(got, e.Recipients...)
	}
	if copies != 1 || strings.Join(got, ",") != strings.Join(rcpts, ",") {
		t.Errorf("message %s: %d copies for %v, want one for %v", n, copies, got, rcpts)
	}
}
