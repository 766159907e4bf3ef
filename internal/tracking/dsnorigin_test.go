package tracking

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// A DSN is a message of its own, with its own id; its "dsn" event names
// the message it reports on too (queue id and Message-ID), so `umbra
// track` for the original shows that a DSN was made and which — by the
// original's queue id and by its Message-ID — for a failure from the
// delivery results and for the operator's removal with NDR alike.
func TestDSNEventNamesItsOriginal(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(filepath.Join(dir, "tracking.log"), 1<<20, 5)
	if err != nil {
		t.Fatal(err)
	}
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := queue.NewManager(s, queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		var out []queue.Result
		for _, i := range rcpts {
			if m.Connector == "dsn" {
				continue // the DSN's return path answers nothing: it waits
			}
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: "mx.example.net[192.0.2.7]:25",
				Reply: "550 5.1.1 no such user"})
		}
		return out
	}), queue.ManagerConfig{Events: l})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	const body = "From: s@example.org\r\nMessage-ID: <orig.1@example.org>\r\nSubject: hi\r\n\r\nhello\r\n"
	failed := &queue.Message{ID: s.NewID(time.Now()), From: "s@example.org", Connector: "test", MessageID: "<orig.1@example.org>",
		Rcpts: []queue.Recipient{{Addr: "x@example.net", Notify: queue.NotifyFailure}}}
	if err := q.Submit(ctx, failed, []byte(body)); err != nil {
		t.Fatal(err)
	}
	held := &queue.Message{ID: s.NewID(time.Now()), From: "s@example.org", Connector: "test", MessageID: "<orig.2@example.org>",
		Quarantine: "held for the test", Rcpts: []queue.Recipient{{Addr: "y@example.net", Notify: queue.NotifyFailure}}}
	if err := q.Submit(ctx, held, []byte(strings.Replace(body, "orig.1", "orig.2", 1))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, _ := q.Message(failed.ID); m == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the failure")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := q.RemoveMessage(ctx, held.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, orig := range []*queue.Message{failed, held} {
		for _, key := range []string{orig.ID.String(), orig.MessageID, strings.Trim(orig.MessageID, "<>")} {
			es, err := Search(filepath.Join(dir, "tracking.log"), 5, Query{ID: key, Events: []string{"dsn"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 {
				t.Errorf("track %s --event dsn: %d entries, want the DSN of %s: %+v", key, len(es), orig.ID, es)
				continue
			}
			e := es[0]
			if e.ID == orig.ID.String() || e.Original != orig.ID.String() || e.OriginalMessageID != orig.MessageID {
				t.Errorf("dsn event %+v: want the DSN's own id, and the original %s %s", e, orig.ID, orig.MessageID)
			}
			if e.MessageID == "" || !strings.Contains(e.Reply, orig.ID.String()) {
				t.Errorf("dsn event %+v: no Message-ID of its own, or a reply that does not name the original", e)
			}
		}
	}
}
