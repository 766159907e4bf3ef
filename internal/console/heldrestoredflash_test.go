package console

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// batchQueue serves queue actions in batches (admin.QueueBatcher): a
// resume that releases nothing and counts held messages left held, some
// of them by a db restore.
type batchQueue struct {
	*fakeQueue
	held, restored int
}

func (b *batchQueue) QueueSelection(action, name string) ([]queue.ID, error) { return nil, nil }

func (b *batchQueue) QueueBatch(_ context.Context, action, name, _ string, _ []queue.ID, first bool, _ time.Time) (queue.BatchResult, error) {
	b.did(action + " " + name)
	if !first {
		return queue.BatchResult{}, nil
	}
	return queue.BatchResult{HeldEach: b.held, HeldRestored: b.restored}, nil
}

// rt47 F2's sibling: the console's message after a queue's Resume
// counted the messages a db restore holds "held one by one (message
// suspend)", the operator's hold: it tells them apart, with the
// warning a resume of them needs.
func TestConsoleQueueResumeTellsTheRestoresHoldApart(t *testing.T) {
	h := newHarnessWrapped(t, nil, func(f *fakeQueue) admin.Queue { return &batchQueue{fakeQueue: f, held: 2, restored: 1} })
	_, csrf := h.login("ops", "s3cret-pass")
	res, _ := h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"queue"}, "op": {"resume"}, "target": {"smarthost:restored"},
		"back": {"/"}}, h.origin())
	if res.StatusCode != 303 {
		t.Fatalf("resume: %d", res.StatusCode)
	}
	_, page := h.do("GET", "/", nil, nil)
	if !strings.Contains(page, "1 message held one by one (message suspend) and 1 message restored suspended by db restore") {
		t.Errorf("the queue's resume counts the restore's hold as the operator's:\n%s", page)
	}
}
