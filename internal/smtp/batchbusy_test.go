package smtp

import (
	"context"
	"testing"

	"umbra/internal/queue"
)

// busyQueue records, when a batch's copies are kept, whether every
// session of the server counts as inside a transaction.
type busyQueue struct {
	batchQueue
	srv      *Server
	idleSeen bool
}

func (q *busyQueue) SubmitShadowCopies(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string) ([]queue.CopyResult, error) {
	q.srv.mu.Lock()
	for _, c := range q.srv.conns {
		c.limits.mu.Lock()
		for tc := range c.limits.live {
			if s := tc.sess.Load(); s != nil && !s.busy.Load() {
				q.idleSeen = true
			}
		}
		c.limits.mu.Unlock()
	}
	q.srv.mu.Unlock()
	return q.batchQueue.SubmitShadowCopies(ctx, copies, primary, addr, dbID)
}

// A batch of copies is one transaction until its reply is written: the
// session stays busy through every copy's envelope checks and the
// commit, even when its last copy is refused, so that a draining
// Shutdown (which closes the idle sessions) never cuts a batch before
// its reply (as TestDataLeavesTransactionBusyUntilReply for DATA).
func TestBatchStaysBusyUntilReply(t *testing.T) {
	q := &busyQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	q.srv = s
	c, _ := shadowLogClient(t, s)
	body := []byte("Subject: c\r\n\r\nhello\r\n")
	good, _ := c.CopyRecord(batchMsg("a@example.org", "x@elsewhere.org"), body)
	// A sender MAIL refuses (8-bit without SMTPUTF8): the last copy's
	// envelope ends refused.
	badFrom := appendCopyRecord(nil, batchMsg("é@example.org", "x@elsewhere.org"), false, [][]byte{body}, len(body), 0)
	errs, err := c.PushBatch([][]byte{good, badFrom}, "dbA")
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("copies answered %v; want the first kept, the second refused", errs)
	}
	if q.idleSeen {
		t.Fatal("the session counted as idle while its batch was being kept")
	}
}
