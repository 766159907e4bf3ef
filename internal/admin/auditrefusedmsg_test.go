package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// refusingQueue refuses each message action by the message's id as the
// queue does: 2 a shadow copy, 3 in delivery, 4 an action that does not
// apply, 5 no such message; 6 fails (a store error, not a refusal).
type refusingQueue struct{ operatorQueue }

func (q *refusingQueue) outcome(id queue.ID) error {
	switch id {
	case 2:
		return fmt.Errorf("%w: its primary is mx1", queue.ErrShadowCopy)
	case 3:
		return queue.ErrBusy
	case 4:
		return &queue.NotApplicableError{Msg: "the action does not apply to the message: it is suspended already"}
	case 5:
		return queue.ErrNotFound
	}
	return errors.New("disk on fire")
}
func (q *refusingQueue) SuspendMessage(_ context.Context, id queue.ID) error { return q.outcome(id) }
func (q *refusingQueue) ResumeMessage(_ context.Context, id queue.ID) error  { return q.outcome(id) }
func (q *refusingQueue) RetryMessage(_ context.Context, id queue.ID) error   { return q.outcome(id) }
func (q *refusingQueue) RemoveMessage(_ context.Context, id queue.ID, _ bool) error {
	return q.outcome(id)
}
func (q *refusingQueue) ForgetDatabaseID(id string) ([]string, error) {
	return nil, &queue.NotFoundError{Msg: "no transport database id " + id + " here"}
}

// OPS-5 (rr-opsrt38 F3): a single-message action refused before it is
// tried — no such message, a shadow copy, a message in delivery, an
// action that does not apply to it, an unknown action — is audited
// "refused: " and the refusal's words, as a refused queue action is;
// and so are the other audited actions that the queue refuses (a
// forget of a database id met as no server's, a dumpster resubmit of a
// database that has no copies). An action that was tried and failed is
// audited in its own words, not as a refusal.
func TestRefusedMessageActionsAuditedAsRefused(t *testing.T) {
	dir := t.TempDir()
	tl, err := tracking.Open(filepath.Join(dir, "tracking.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sock := filepath.Join(dir, "admin.sock")
	s, err := Listen(sock, &refusingQueue{}, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDumpster(refusingDumpster{})
	s.SetQueueNames(func(name string) error { // no mailbox database is configured
		return &queue.UnknownNameError{Kind: "queue", Name: name, Valid: []string{"mailbox:DB1"}}
	})
	go s.Serve()
	defer s.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	type line struct {
		path, action, words string
		refused             bool
	}
	lines := []line{
		{"/v1/messages/0000000000000005/retry", "message retry", "no such message 0000000000000005", true},
		{"/v1/messages/0000000000000002/resume", "message resume", "not applicable to a shadow copy", true},
		{"/v1/messages/0000000000000003/remove?ndr=true", "message remove --ndr", "message is being delivered", true},
		{"/v1/messages/0000000000000003/suspend", "message suspend", "message is being delivered", true},
		{"/v1/messages/0000000000000004/suspend", "message suspend", "does not apply to the message", true},
		{"/v1/messages/0000000000000004/frobnicate", "message frobnicate", "unknown message action", true},
		{"/v1/shadows/databases/0123456789abcdef0123456789abcdef/forget", "shadow forget-database 0123456789abcdef0123456789abcdef", "no transport database id", true},
		{"/v1/dumpster/NOPE/redeliver?since_ago=1h&request_id=r1", "dumpster resubmit", "NOPE", true},
		{"/v1/messages/0000000000000006/suspend", "message suspend", "disk on fire", false},
	}
	for _, l := range lines {
		resp, err := hc.Post("http://umbra"+l.path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("POST %s: %s, want a refusal or failure", l.path, resp.Status)
		}
	}
	var es []tracking.Entry
	for i := 0; i < 200; i++ { // bounded: a handler audits as it answers
		es, _ = tl.Search(tracking.Query{Events: []string{"admin"}})
		if len(es) >= len(lines) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(es) != len(lines) {
		for _, e := range es {
			t.Logf("audited: %q: %q", e.Action, e.Reply)
		}
		t.Fatalf("%d admin lines, want %d", len(es), len(lines))
	}
	for i, l := range lines {
		e := es[i]
		if e.Action != l.action || !strings.Contains(e.Reply, l.words) || strings.HasPrefix(e.Reply, "refused: ") != l.refused ||
			strings.Count(e.Reply, "refused: ") > 1 {
			t.Errorf("%s: audited %q: %q, want %q, refused %v: …%s…", l.path, e.Action, e.Reply, l.action, l.refused, l.words)
		}
	}
}
