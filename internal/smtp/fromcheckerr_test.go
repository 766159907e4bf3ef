package smtp

import (
	"errors"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// failingOwnersQueue cannot read which primary database id failing is
// recorded for (a storage error); any other id is no other server's.
type failingOwnersQueue struct {
	markQueue
	failing string
}

func (q *failingOwnersQueue) ShadowDatabaseOfAnother(server, dbID string) (string, error) {
	if dbID == q.failing {
		return "", errors.New("disk read error")
	}
	return "", nil
}

// rrverbs40 F2 (SR-3, W-2): verbs40 F1 looked at XQUERYTAKENDONE's
// FROM= before the answer of a session that presented no database id
// of its own ("0 finished here", whatever FROM= names) — for the
// warning only. A failed look-up turned that answer into 451: a
// legitimate primary's question refused for a check that changes
// nothing in its answer. It is answered as before; the failure logged.
// A session with a database id of its own is still told 451 (its
// answer depends on the check).
func TestSR3QueryTakenDoneFromCheckFailureKeepsAnswerWithoutDatabase(t *testing.T) {
	const ownDB, fromDB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{}}
	sh := &handedShadow{takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{}},
		handed: map[string][]queue.TakenDone{}}
	s := startShadowServer(t, &failingOwnersQueue{markQueue: markQueue{mark: 1}, failing: fromDB}, sh, true, verbs40Connector(t))
	d := dial(t, s, "127.0.0.128")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	if got := d.cmd("XQUERYTAKENDONE 100 HELD BUSY FROM="+fromDB, "250"); !strings.Contains(got, "0 finished here") {
		t.Fatalf("session without a database id: %q, want 0 finished here", got)
	}
	d.cmd("XSHADOW hub2 MARK DB="+ownDB, "250")
	d.cmd("XQUERYTAKENDONE 100 HELD BUSY FROM="+fromDB, "451 4.3.0")
	d.cmd("QUIT", "221")
}
