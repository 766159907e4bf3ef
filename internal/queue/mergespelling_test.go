package queue

import (
	"context"
	"testing"
)

// rt36 (SR-8): otherRecordUnderCopy finds a record naming the same copy
// whatever the spelling of its holder's name: a poisoned message is not
// handed back to the holder of a copy another record here still names.
func TestOtherRecordUnderCopyWhateverTheNameSpelling(t *testing.T) {
	s := openTest(t)
	a := msg(s, "a@example.org", "x@example.test")
	a.OrgID = "00000000000000000000000000000abc"
	a.State, a.ShadowServer, a.ShadowID = Ready, "hubB.test", a.OrgID
	b := msg(s, "a@example.org", "y@example.test")
	b.OrgID = a.OrgID
	b.State, b.ShadowServer, b.ShadowID = Ready, "hubb.test", a.OrgID
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNew(a, []byte(body)); err != nil {
			return err
		}
		return tx.PutNew(b, []byte(body))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error {
		if !tx.otherRecordUnderCopy(b) {
			t.Errorf("the record naming the copy on hubB.test not found for hubb.test")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
