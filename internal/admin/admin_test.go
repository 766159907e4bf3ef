package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// fakeQueue answers from fixed data and records actions.
type fakeQueue struct {
	actions []string
}

func (f *fakeQueue) Queues() ([]queue.QueueInfo, error) {
	return []queue.QueueInfo{{Name: "mx:example.net", Count: 2}}, nil
}
func (f *fakeQueue) SuspendQueue(ctx context.Context, n string) error {
	f.actions = append(f.actions, "suspend "+n)
	return nil
}
func (f *fakeQueue) ResumeQueue(ctx context.Context, n string) (int, error) { return 0, nil }
func (f *fakeQueue) SuspendedQueues() []string                              { return nil }
func (f *fakeQueue) RetryQueue(ctx context.Context, n string) (int, error) {
	return 2, nil
}
func (f *fakeQueue) RedirectQueue(ctx context.Context, n, to string) (int, error) {
	f.actions = append(f.actions, "redirect "+n+" "+to)
	return 1, nil
}
func (f *fakeQueue) Messages(queue.MessageFilter) ([]*queue.Message, error) { return nil, nil }
func (f *fakeQueue) Message(id queue.ID) (*queue.Message, error) {
	if id == 1 {
		return &queue.Message{ID: 1, State: queue.Ready, From: "sender@example.org", Rcpts: []queue.Recipient{{Addr: "a@example.net"}}}, nil
	}
	return nil, queue.ErrNotFound
}
func (f *fakeQueue) BodyOf(id queue.ID) (queue.Body, error) {
	return queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")), nil
}
func (f *fakeQueue) SuspendMessage(ctx context.Context, id queue.ID) error { return queue.ErrBusy }
func (f *fakeQueue) ResumeMessage(ctx context.Context, id queue.ID) error {
	return errors.New("disk on fire")
}
func (f *fakeQueue) RemoveMessage(ctx context.Context, id queue.ID, ndr bool) error {
	return nil
}

func TestAPIStatusCodesAndSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "admin.sock")
	os.MkdirAll(filepath.Dir(path), 0o750)
	// A stale socket file (no process behind it) is replaced.
	os.WriteFile(path, nil, 0o600)
	q := &fakeQueue{}
	s, err := Listen(path, q, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	// A live socket is another daemon's: refused.
	if _, err := Listen(path, q, nil, Status{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a second API took over a live socket")
	}

	c := NewClient(path)
	if st, err := c.Status(); err != nil || st.Server != "mx.test" {
		t.Fatalf("status: %+v %v", st, err)
	}
	if qs, err := c.Queues(); err != nil || len(qs) != 1 || qs[0].Count != 2 {
		t.Fatalf("queues: %+v %v", qs, err)
	}
	if n, err := c.QueueAction("mx:example.net", "redirect", "10.0.0.9:25"); err != nil || n != 1 ||
		q.actions[0] != "redirect mx:example.net 10.0.0.9:25" {
		t.Fatalf("redirect: %d %v %v", n, err, q.actions)
	}
	var buf bytes.Buffer
	if err := c.Export("0000000000000001", &buf); err != nil || buf.String() != "Subject: x\r\n\r\nhi\r\n" {
		t.Fatalf("export: %q %v", buf.String(), err)
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{c.MessageAction("0000000000000001", "suspend", false), http.StatusConflict},
		{c.MessageAction("0000000000000001", "resume", false), http.StatusInternalServerError},
		{c.MessageAction("xyz", "remove", false), http.StatusBadRequest},
		{func() error { _, err := c.Message("0000000000000002"); return err }(), http.StatusNotFound},
		{func() error { _, err := c.QueueAction("q", "explode", ""); return err }(), http.StatusNotFound},
		{func() error { _, err := c.QueueAction("q", "redirect", ""); return err }(), http.StatusBadRequest},
		// A target that cannot be a host[:port] would defer every message
		// it takes: refused, nothing stored.
		{func() error { _, err := c.QueueAction("q", "redirect", "mail example.org"); return err }(), http.StatusBadRequest},
		{func() error { _, err := c.QueueAction("q", "redirect", "mail.example.org:99999"); return err }(), http.StatusBadRequest},
		{func() error { _, err := c.QueueAction("q", "redirect", "mail.example.org:smtp"); return err }(), http.StatusBadRequest},
		// Digits that are no IP address (an octet above 255) and no host
		// name (an all-digit top label): refused before any lookup.
		{func() error { _, err := c.QueueAction("q", "redirect", "999.1.1.1"); return err }(), http.StatusBadRequest},
		{func() error { _, err := c.QueueAction("q", "redirect", "256.0.0.1:25"); return err }(), http.StatusBadRequest},
		{func() error { _, err := c.QueueAction("q", "redirect", "1.2.3"); return err }(), http.StatusBadRequest},
		{func() error { _, err := c.Track(trackingQuery()); return err }(), http.StatusNotFound}, // tracking off
	} {
		var ae *APIError
		if !errors.As(tc.err, &ae) || ae.Status != tc.want {
			t.Errorf("got %v, want status %d", tc.err, tc.want)
		}
	}

	s.Shutdown(context.Background())
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("the socket outlives the API")
	}
	if _, err := NewClient(path).Status(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no daemon: %v", err)
	}
}

func trackingQuery() tracking.Query { return tracking.Query{ID: "x"} }

// Operator actions are tracked with who (the socket peer's uid from
// SO_PEERCRED), when and what, with the message's envelope.
func TestActionsAreAudited(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	logPath := filepath.Join(dir, "tracking.log")
	tl, err := tracking.Open(logPath, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	q := &fakeQueue{}
	s, err := Listen(path, q, tl, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(path)
	if _, err := c.QueueAction("mx:example.net", "suspend", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.MessageAction("0000000000000001", "remove", true); err != nil {
		t.Fatal(err)
	}
	es, err := tl.Search(tracking.Query{Events: []string{"admin"}})
	if err != nil || len(es) != 2 {
		t.Fatalf("audit entries: %+v %v", es, err)
	}
	who := fmt.Sprintf("uid=%d", os.Getuid())
	if e := es[0]; e.Action != "queue suspend" || e.Queue != "mx:example.net" || !strings.HasPrefix(e.Actor, who) || e.Reply != "ok" {
		t.Errorf("queue suspend: %+v", e)
	}
	if e := es[1]; e.Action != "message remove --ndr" || e.ID != "0000000000000001" || len(e.Recipients) != 1 ||
		e.Recipients[0] != "a@example.net" || !strings.HasPrefix(e.Actor, who) || e.Time.IsZero() {
		t.Errorf("message remove: %+v", e)
	}
	// In-process (the web console through Handler) the operator is the
	// header's; on the socket a forged header is not believed.
	req, _ := http.NewRequest("POST", "/v1/queues/mx:example.net/resume", nil)
	req.Header.Set("X-Umbra-Operator", "console:alice")
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	forged, _ := http.NewRequest("POST", "http://umbra/v1/queues/mx:example.net/retry", nil)
	forged.Header.Set("X-Umbra-Operator", "console:mallory")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	if resp, err := hc.Do(forged); err == nil {
		resp.Body.Close()
	}
	es, _ = tl.Search(tracking.Query{Events: []string{"admin"}})
	if len(es) != 4 || es[2].Actor != "console:alice" || !strings.HasPrefix(es[3].Actor, who) {
		t.Errorf("actors in-process and on the socket: %+v", es)
	}
	// A bulk action needs a filter: an empty one never selects everything.
	if _, err := c.BulkAction("remove", queue.MessageFilter{}, false, false, false); err == nil {
		t.Error("a bulk remove without a filter was accepted")
	}
}
