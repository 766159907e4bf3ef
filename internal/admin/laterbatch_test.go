package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// batchQueue is operatorQueue with the queue actions in batches: its
// smart host's queue holds messages 1 to 3.
type batchQueue struct {
	operatorQueue
	selected int
}

func (b *batchQueue) QueueSelection(action, name string) ([]queue.ID, error) {
	b.selected++
	return []queue.ID{1, 2, 3}, nil
}

func (b *batchQueue) QueueBatch(ctx context.Context, action, name, target string, ids []queue.ID, first bool, until time.Time) (queue.BatchResult, error) {
	b.actions = append(b.actions, action+" "+name)
	return queue.BatchResult{Changed: len(ids), Used: len(ids)}, nil
}

// A later batch (after=ID) is still refused what the action refuses
// (Q-: suspend of a shadow queue), and one whose selection is gone
// selects again and is checked again: a redirect to this server is
// refused whatever batch asks.
func TestLaterBatchStillChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	q := &batchQueue{}
	s, err := Listen(path, q, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	self := 0
	s.SetRedirectCheck(func(ctx context.Context, to string) string {
		self++
		return "redirect target " + to + " is this server"
	})
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(path)
	var ae *APIError
	for _, after := range []string{"x", queue.ID(1).String()} {
		err := c.do("POST", "/v1/queues/shadow:primary.test/suspend", url.Values{"after": {after}}, nil)
		if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "shadow copies") {
			t.Errorf("suspend of a shadow queue, after=%s: %v", after, err)
		}
		err = c.do("POST", "/v1/queues/poison/retry", url.Values{"after": {after}, "selection": {"gone"}}, nil)
		if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity {
			t.Errorf("retry of poison, after=%s: %v", after, err)
		}
	}
	err = c.do("POST", "/v1/queues/smarthost:sink/redirect",
		url.Values{"to": {"127.0.0.9:25"}, "after": {queue.ID(1).String()}, "selection": {"gone"}, "max_time": {"1s"}}, nil)
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || self != 1 {
		t.Errorf("later redirect to this server, its selection gone: %v (checked %d times)", err, self)
	}
	// A bulk action's later batch whose selection is gone selects again:
	// its queue's name is checked again.
	err = c.do("POST", "/v1/messages/retry", url.Values{"queue": {"smarthost:typo"}, "after": {queue.ID(1).String()}, "selection": {"gone"}}, nil)
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("later bulk batch on a typo, its selection gone: %v", err)
	}
	if len(q.actions) != 0 {
		t.Errorf("actions taken: %v", q.actions)
	}
}
