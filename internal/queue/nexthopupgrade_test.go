package queue

import (
	"context"
	"path/filepath"
	"testing"
)

// SR-17 (upgrade): a hub that ran an earlier release may hold, for a
// primary named in mixed case, both the copy on receipt (kept under the
// folded name) and the original that primary relayed here (under the
// name it stated): the merge compared the two exactly. Nothing merges
// such a pair after the upgrade — the merge runs only in the commit
// that stores one of them — so the copy still waits for the primary's
// discard, and a kill -9 of the primary before it is the duplicate
// the merge across spellings fixed, for every message in flight at the upgrade.
func TestReceiptCopyPairLeftByEarlierReleaseMergedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := receiptCopy(s, "x@b.example")
	c.State = Shadow
	c.Rcpts[0].Status, c.Rcpts[0].Primary, c.Rcpts[0].ShadowID, c.Rcpts[0].Queue = Shadowed, "huba.test", c.OrgID, "shadow:huba.test"
	m := msg(s, "a@example.org", "x@b.example")
	m.State, m.OrgID, m.ShadowServer, m.ShadowID = Ready, c.OrgID, "hubA.test", "0000000000000001-relay"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		// The database as the release before left it: no record of a
		// merge at open (keyReceiptPairsMerged, when this test runs
		// with the fix).
		_ = tx.tx.Bucket(bucketMeta).Delete([]byte("receipt_pairs_merged"))
		if err := tx.PutNew(c, []byte(body)); err != nil {
			return err
		}
		return tx.PutNew(m, []byte(body))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.View(func(tx *Tx) error {
		if got, err := tx.Get(c.ID); err == nil && got.Rcpts[0].Status == Shadowed {
			t.Errorf("the copy on receipt of an original relayed here by its primary is still kept for takeover after the upgrade: %+v", got.Rcpts[0])
		}
		return nil
	})
}
