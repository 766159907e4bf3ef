package pickup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// realQueue is a queue manager over a bbolt file whose deliveries never
// succeed, so that pickup files stay queued; its events go to a
// tracking log.
func realQueue(t *testing.T) (*queue.Manager, *queue.Store, *tracking.Log) {
	t.Helper()
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	q := queue.NewManager(st, queue.DelivererFunc(func(ctx context.Context, m *queue.Message, b []byte, rcpts []int) []queue.Result {
		var out []queue.Result
		for _, i := range rcpts {
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "mx:example.net", Reply: "451 4.4.1 not now"})
		}
		return out
	}), queue.ManagerConfig{Events: tl, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	t.Cleanup(func() { cancel(); q.Wait(); tl.Close(); st.Close() })
	return q, st, tl
}

func queued(t *testing.T, st *queue.Store) []*queue.Message {
	t.Helper()
	var out []*queue.Message
	st.View(func(tx *queue.Tx) error {
		tx.ForEach(func(m *queue.Message, err error) bool {
			if err == nil {
				out = append(out, m)
			}
			return true
		})
		return nil
	})
	return out
}

func dropFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// Issue 20 item 5: a pickup message has an identity. Its Message-ID is
// recorded, so a tracking search by it finds the message; it gets an
// organisation message id of its own, never one written in the file
// (a file is not a transport server: the header firewall applies), nor
// an Authentication-Results claiming umbra's authserv-id; it counts as
// mail originating inside the organisation (DKIM-signed when it leaves).
func TestPickupIdentity(t *testing.T) {
	q, st, tl := realQueue(t)
	dir := t.TempDir()
	forged := "0123456789abcdef0123456789abcdef"
	dropFile(t, dir, "app.eml", "X-Receiver: a@example.net\nX-Umbra-Org-Id: "+forged+"\nAuthentication-Results: (forged) HUB.test; dmarc=pass\nMessage-ID: <pick-1@app.example>\nSubject: x\n\nhi\n")
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, AuthservIDs: []string{"hub.test"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	ms := queued(t, st)
	if len(ms) != 1 {
		t.Fatalf("%d messages queued", len(ms))
	}
	m := ms[0]
	if m.MessageID != "<pick-1@app.example>" || !orgid.Valid(m.OrgID) || m.OrgID == forged {
		t.Fatalf("Message-ID %q, org id %q (forged %q)", m.MessageID, m.OrgID, forged)
	}
	var body []byte
	st.View(func(tx *queue.Tx) error { body, _ = tx.Body(m.ID); return nil })
	if strings.Contains(strings.ToLower(string(body)), "x-umbra-") || strings.Contains(string(body), "dmarc=pass") {
		t.Errorf("the file's umbra header or a result claiming umbra's authserv-id was queued:\n%s", body)
	}
	if !m.Internal {
		t.Error("pickup mail is not marked as originating inside the organisation (it would leave unsigned)")
	}
	for _, id := range []string{"<pick-1@app.example>", m.OrgID} {
		es, err := tl.Search(tracking.Query{ID: id})
		if err != nil || len(es) == 0 || es[0].Event != "receive" || es[0].ID != m.ID.String() {
			t.Errorf("tracking search by %s: %+v %v", id, es, err)
		}
	}
}

// Issue 20 item 5: a file is one submission. A crash after the commit
// that queued it and before the file was marked leaves the same file;
// the next start must not queue it again. Two separate drops of the same
// content are two messages, as two SMTP submissions are.
func TestPickupFileIsOneSubmission(t *testing.T) {
	q, st, _ := realQueue(t)
	dir := t.TempDir()
	content := "X-Receiver: a@example.net\nMessage-ID: <same@app.example>\nSubject: x\n\nhi\n"
	dropFile(t, dir, "one.eml", content)

	crashed := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	crashed.rename = func(string, string) error { return errors.New("crash before the rename") }
	ctx, cancel := context.WithCancel(context.Background())
	crashed.Scan(ctx)
	cancel()
	crashed.wg.Wait()
	if n := len(queued(t, st)); n != 1 {
		t.Fatalf("%d messages after the first submission", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "one.eml")); err != nil {
		t.Fatalf("the crash should have left the file: %v", err)
	}

	// The next start finds the same file.
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q})
	ctx, cancel = context.WithCancel(context.Background())
	defer func() { cancel(); w.wg.Wait() }()
	w.Scan(ctx)
	ms := queued(t, st)
	if len(ms) != 1 {
		t.Fatalf("the file was submitted %d times", len(ms))
	}
	if _, err := os.Stat(filepath.Join(dir, "one."+ms[0].ID.String()+".queued")); err != nil {
		t.Fatalf("the file is not marked with its message: %v", err)
	}

	// A new drop of the same content (same name even) is a new message.
	dropFile(t, dir, "one.eml", content)
	w.Scan(ctx)
	ms = queued(t, st)
	if len(ms) != 2 || ms[0].OrgID == ms[1].OrgID {
		t.Fatalf("second drop: %d messages", len(ms))
	}
}
