package queue

import (
	"time"
)

// Unconfirmed pushes of a message in delivery (rt19f-F1). A copy on
// receipt pushed to a server that did not answer in time may be stored
// there once that server runs again; the receipt makes the copy on the
// next candidate at once, and the message is most often in delivery by
// then (a route that hangs keeps it there). The commit that records that
// copy (ShadowRecopied of an Active record) keeps its holder in the mark
// (addHeld) and leaves the record to the attempt's commit; it must still
// write, itself, the discard owed to each server a copy was pushed to
// without confirmation: waiting for the attempt to end (nameCopyHolder,
// settleSingleMark) leaves, for as long as the attempt lasts, two
// servers holding the copy and no discard owed to the first, so the loss
// of this server's disk makes both take the message over and deliver it.

// discardUnconfirmedInDelivery writes, in tx, the discard of m's copy
// (named by its org id, as every copy on receipt) owed to each server of
// its mark's pushed list but to, which now holds the confirmed copy — the
// server m's record still names among them — unless another record here
// still needs that copy (siblingcopy.go). Those servers leave the pushed
// list: their discard is written once, not again when the mark is
// settled.
func (t *Tx) discardUnconfirmedInDelivery(m *Message, to string, now time.Time) error {
	if m.OrgID == "" {
		return nil
	}
	// A discard of that copy owed to to and not fetched yet (to was
	// discarded as an unconfirmed holder before, and took the copy again
	// now) would drop the confirmed copy: it goes, as a record naming to
	// withdraws it (withdrawUnfetchedDiscard).
	if err := t.DeleteDiscards(to, []string{m.OrgID}); err != nil {
		return err
	}
	v := t.tx.Bucket(bucketSingle).Get(m.ID.Key())
	_, since, pushed, ok := singleMark(v)
	if !ok || len(pushed) == 0 {
		return nil
	}
	for _, p := range pushed {
		if sameServer(p, to) {
			continue // addHeld names it as the holder
		}
		// A server that held a copy made earlier in delivery is no
		// holder any more either: to holds the confirmed one.
		if _, err := t.addDiscardFor(m.ID, m.OrgID, p, m.OrgID, now); err != nil {
			return err
		}
		// And the discard of the copy p keeps under the record's own
		// id that a push to it withdrew (RecopyPushing): p leaves the
		// list here, so nothing would write it later.
		if err := t.discardFormerCopy(m, p, now); err != nil {
			return err
		}
	}
	return t.markSingleKind(m.ID, markHead(v), since, nil)
}

// keptHolders is the pushed list of message id's mark for the mark
// written again naming server as the one whose copy is lost (markSingle,
// markSingleHow): a server that holds the copy made again while the
// message was in delivery (heldPrefix) stays its holder — its copy is
// confirmed and not lost with server's — unless it is server itself,
// which stays only as one that may hold a copy (forgetHeldOn). Demoting
// another holder would make the copy a third time while it still holds
// one (rt19f-F1, the variant).
func (t *Tx) keptHolders(id ID, server string) []string {
	v := t.tx.Bucket(bucketSingle).Get(id.Key())
	_, _, pushed, ok := singleMark(v)
	if !ok {
		return nil
	}
	held := singleHeld(v)
	if held == "" || sameServer(held, server) {
		return pushed
	}
	out := make([]string, 0, len(pushed))
	for _, p := range pushed {
		if sameServer(p, held) {
			p = heldPrefix + p
		}
		out = append(out, p)
	}
	return out
}
