package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// SR-13, Q-2: the commit that moved the message to the poison queue
// discarded its shadow copy on hub-h, but the record still counted as
// one whose copy hub-h keeps: message show and a restore's count named
// hub-h, and the holder probe asked hub-h about the copy (XQUERYKEPT),
// whose "missing" answers marked the message's copy rolled back and
// made it again on hub-h while the message was poison — where hub-h took
// it over at its expiry and delivered it behind the operator's verdict.
// A poison message whose copy its commit settled is held as a
// suspended one is: no copy named, none asked for, none made again
// until its resume.
func TestQ2PoisonSettledCopyIsNamedNowhereNorMadeAgain(t *testing.T) {
	_, p, _, m, _ := poisonWithCopy(t)
	if h := p.CopyHolderOf(m.ID); h != "" {
		t.Errorf("message show names %q as the holder of the poison message's copy its commit discarded", h)
	}
	ids, _, err := p.ShadowCopiesNamed("hub-h", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ids, m.ShadowID) {
		t.Errorf("the holder probe asks hub-h about the discarded copy %s: its answer marks the copy rolled back (%q)", m.ShadowID, ids)
	}
	if holders, err := p.ShadowHolders(); err != nil || holders["hub-h"] != 0 {
		t.Errorf("hub-h counted as holding %d copies of poison messages whose copy was discarded (%v)", holders["hub-h"], err)
	}
	// Marked held by this server only meanwhile (a probe, a lost
	// database): the copy is not made again while the poison queue
	// holds the message.
	if err := p.store.Update(context.Background(), func(tx *Tx) error {
		return tx.markSingleKind(m.ID, "hub-h"+howSep+HowRolledBack, p.clk.Now(), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := p.RecopyCandidate(m.ID); err != nil || ok {
		t.Errorf("the poison message's copy is made again while it is held: candidate %v, %v", ok, err)
	}
	v, err := p.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := HoldDiscardedCopy(v); !strings.Contains(s, "poison") {
		t.Errorf("the views say %q of the copy the poison queue's commit discarded", s)
	}
}
