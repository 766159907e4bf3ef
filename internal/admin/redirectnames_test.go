package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// operatorQueue is fakeQueue with the queue-name check of a server whose
// queues are a smart host's, a dumpster's, poison and the quarantine.
type operatorQueue struct{ fakeQueue }

func (o *operatorQueue) CheckQueue(name string, mayBeNew bool) error {
	valid := []string{"dumpster:local", "poison", "quarantine", "smarthost:sink"}
	for _, v := range valid {
		if v == name {
			return nil
		}
	}
	return &queue.UnknownNameError{Kind: "queue", Name: name, Valid: valid}
}
func (o *operatorQueue) RetryMessage(context.Context, queue.ID) error { return nil }
func (o *operatorQueue) Flush(context.Context) (int, error)           { return 0, nil }

// queue redirect of a queue that does not exist names as valid only the
// queues redirect takes (not a dumpster, poison or the quarantine, which
// it refuses), and a bad target is a usage error (400: exit 64) before
// the queue's name is looked up, whether or not the queue exists.
func TestRedirectNamesAndTargetFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	q := &operatorQueue{}
	s, err := Listen(path, q, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(path)
	var ae *APIError
	_, err = c.QueueAction("smarthost:typo", "redirect", "127.0.0.9:25")
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(err.Error(), "smarthost:sink") ||
		strings.Contains(err.Error(), "dumpster:local") || strings.Contains(err.Error(), "poison") || strings.Contains(err.Error(), "quarantine,") {
		t.Errorf("redirect of a typo: %v", err)
	}
	for _, name := range []string{"smarthost:typo", "smarthost:sink", "poison"} {
		for _, to := range []string{"999.1.1.1", "1.2.3", ""} {
			_, err := c.QueueAction(name, "redirect", to)
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Errorf("redirect %s --to %q: %v", name, to, err)
			}
		}
	}
	if len(q.actions) != 0 {
		t.Errorf("actions taken: %v", q.actions)
	}
}
