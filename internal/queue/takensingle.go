package queue

import (
	"strings"
	"time"
)

// A copy taken over is held by this server only (rt55 F1). While a copy
// is shadowed here, its primary holds the message and this server the
// copy: two disks. A takeover — failed heartbeats, a primary back with
// another database, a rollback mark, an expired copy, a copy the primary
// gave this server, any of them kept aside for a record in delivery and
// applied by the commit that ends the attempt — makes this server the
// message's primary, and its disk the only one known to hold it: the
// primary lost it, or cannot be reached. So the commit that writes the
// first taken-over recipient of a record (Tx.Put, markTakenOver) marks
// it held by this server only (bucket singlecopy, holders.go), naming
// the primary it was taken from: shadow single, message show and the
// single-copy metric list it, and the holders' pass makes its copy again
// on a server that answers (delivery.ReceiptShadow.Recopy, by the
// receiving connector's preference: prefer-remote for a copy), which
// takes the mark away (ShadowRecopied) and names the new holder, so the
// message's delivery writes that holder's discard. A copy given back to
// its primary (giveBackTx: it answered again with its database) is a
// shadow copy again: its mark goes, and a copy made meanwhile gets its
// discard in the same commit.
//
// takenMark starts, in a mark's server, the primary a taken-over copy
// came from (the views read it as SingleCopy.TakenOver).
const takenMark = "\x02"

// now is the time of the Manager's clock over t's store (NewManager),
// the wall clock outside one.
func (t *Tx) now() time.Time {
	if t.store != nil {
		if c := t.store.clk.Load(); c != nil {
			return (*c).Now()
		}
	}
	return time.Now()
}

// markTakenOver marks m held by this server only when this Put gives it
// its first recipient taken over from a primary (takenFrom: none in old)
// and it needs a copy; a mark it has already stays as it is.
func (t *Tx) markTakenOver(old, m *Message) error {
	if t.tx.Bucket(bucketSingle) == nil { // a database opened for a restore check
		return nil
	}
	now := takenFrom(m)
	if len(now) == 0 || old != nil && len(takenFrom(old)) > 0 || !needsCopyMarked(m) || t.markedSingle(m.ID) {
		return nil
	}
	return t.markSingleKind(m.ID, takenMark+now[0], t.now(), nil)
}

// unmarkGivenBack drops the mark markTakenOver made on m, given back to
// its primary: a shadow copy again, with the original there. A copy on
// receipt made again elsewhere meanwhile (ShadowRecopied named it) gets
// its discard, and the record names none: the primary's original is
// the message, this record its copy.
func (t *Tx) unmarkGivenBack(m *Message, now time.Time) error {
	b := t.tx.Bucket(bucketSingle)
	if server, _, _, ok := singleMark(b.Get(m.ID.Key())); ok && strings.HasPrefix(server, takenMark) {
		if err := b.Delete(m.ID.Key()); err != nil {
			return err
		}
	}
	if m.CopiedOnReceipt() {
		if _, err := t.addDiscardFor(m.ID, m.OrgID, m.ShadowServer, m.ShadowID, now); err != nil {
			return err
		}
		m.ShadowServer, m.ShadowID = "", ""
	}
	return nil
}
