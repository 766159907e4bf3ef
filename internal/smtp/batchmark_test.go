package smtp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// rt39 F1 (SR-17, SR-3): a discard that reaches the holder before the
// copy it is for settles that copy also when the copy comes in a batch
// with a copy committed later. hub2 committed message X (its rollback
// mark raised to 5), delivered it and prepared X's discard; this server
// fetched the discard with the mark read after it (6) before X's copy
// arrived, so the discard is kept aside (an early discard). X's copy
// then comes in one batch with Y's, committed after the discard was
// read (mark 8). The batch's MAIL presents the highest of its marks (8):
// taken as X's own, X read as a copy made after its discard (a stale
// discard, earlystale.go), was kept, and stayed here for good while
// hub2 owed it nothing — delivered twice when hub2 was lost. Each copy
// of a batch is placed by its own commit's mark (version 24): X is not
// kept, Y is. Real queue, real TCP.
func TestSR17EarlyDiscardSettlesBatchedCopy(t *testing.T) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	sh := &keptCopiesShadow{takenOverShadow: newTakenOverShadow(), kept: map[string]bool{}}
	s := startShadowServer(t, q, sh, true, rt39Connector(t))

	x := batchMsg("a@example.org", "x@elsewhere.org")
	y := batchMsg("b@example.org", "y@elsewhere.org")
	x.HolderMark, y.HolderMark = 5, 8
	// The watch session's discard query: the mark presented with the
	// reply, then the discard of X, which is not here yet.
	if _, _, err := q.ShadowMarkSeen("hub2", "db1", 6, q.ShadowMarkFloor("hub2")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub2", "db1", []string{x.OrgID}); err != nil {
		t.Fatal(err)
	}

	c := shadowClient(t, s)
	body := []byte("Subject: c\r\n\r\nbody\r\n")
	var recs [][]byte
	for _, m := range []*queue.Message{x, y} {
		rec, ok := c.CopyRecord(m, body)
		if !ok {
			t.Fatalf("%s cannot go in a batch", m.From)
		}
		recs = append(recs, rec)
	}
	errs, err := c.PushBatchMarked(recs, "db1", max(x.HolderMark, y.HolderMark))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("copy %d refused: %v", i+1, e)
		}
	}
	held := func(org string) bool {
		t.Helper()
		ids, _, err := q.ShadowCopiesHeld("hub2", time.Now().Add(time.Hour), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if id == org {
				return true
			}
		}
		return false
	}
	if held(x.OrgID) {
		t.Fatal("X's copy kept although its discard came first: batched with a later copy, it was taken for a copy made after the discard")
	}
	if !held(y.OrgID) {
		t.Fatal("Y's copy, committed after the discard, was not kept")
	}
}
