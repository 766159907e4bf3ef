package admin

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// settlingQueue is a fakeQueue whose results may wait for a commit
// (queue.Manager.Settle): it counts the settles.
type settlingQueue struct {
	fakeQueue
	settled atomic.Int32
}

func (q *settlingQueue) Settle(context.Context) error { q.settled.Add(1); return nil }

// Every operator request first waits for the results of attempts that
// already ended (a read as much as an action).
func TestRequestsSettleDeferredResults(t *testing.T) {
	q := &settlingQueue{}
	s, err := Listen(filepath.Join(t.TempDir(), "admin.sock"), q, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	c := NewClient(filepath.Join(filepath.Dir(s.ln.Addr().String()), "admin.sock"))
	if _, err := c.Queues(); err != nil {
		t.Fatal(err)
	}
	if n := q.settled.Load(); n != 1 {
		t.Fatalf("settled %d times for one request, want 1", n)
	}
}
