package queue

import (
	"encoding/binary"
	"time"
)

// When an operator's hold began (poison45 item 3). A message held by
// itself — suspended (message suspend), or in the poison queue — does
// not age while held, and only then: `message resume` gives it back the
// age it had when it was held (resumedFromHold). The commit that holds
// it notes when, in the same transaction (Tx.Put: every way into either
// state, a bulk suspend's, Recover's move to the poison queue, a stranded
// attempt's, a record stored held), in bucket heldsince:
//
//	heldsince ID (8, BE) → held-at (8, BE unix nanoseconds)
//
// The commit that takes the message out of the hold (its resume, or a
// Put in any other state) or deletes it deletes the entry. A crash
// leaves the record and its entry as one commit wrote them. A hold an
// older release made has no entry (nor does a database it wrote
// after): the resume then counts the hold, the safe side of a loop of
// suspends and resumes (it restarted the age at zero each time before:
// a message kept for ever). The bucket is made by the first hold, not
// at open (most databases hold none for long).

// heldState: s is a hold of the message by itself, whose time does not
// age it.
func heldState(s State) bool { return s == Suspended || s == Poison }

// noteHeld keeps bucket heldsince in step with the record Put writes:
// m entering a hold (from old, nil for a new record) notes now; m
// leaving one forgets its entry.
func (t *Tx) noteHeld(old, m *Message) error {
	wasHeld := old != nil && heldState(old.State)
	switch {
	case heldState(m.State) && !wasHeld:
		b, err := t.tx.CreateBucketIfNotExists(bucketHeldSince)
		if err != nil {
			return err
		}
		return b.Put(m.ID.Key(), binary.BigEndian.AppendUint64(nil, uint64(t.now().UnixNano())))
	case !heldState(m.State) && wasHeld:
		return t.forgetHeld(m.ID)
	}
	return nil
}

// forgetHeld deletes message id's entry in heldsince, if any.
func (t *Tx) forgetHeld(id ID) error {
	if b := t.tx.Bucket(bucketHeldSince); b != nil {
		return b.Delete(id.Key())
	}
	return nil
}

// heldSince is when the hold of message id began; false when no commit
// noted it (an older release's hold).
func (t *Tx) heldSince(id ID) (time.Time, bool) {
	b := t.tx.Bucket(bucketHeldSince)
	if b == nil {
		return time.Time{}, false
	}
	v := b.Get(id.Key())
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

// shiftHeld moves the start of message id's hold, if one is noted, by
// step: a step of the wall clock (followClockStep), which moves its
// arrival likewise.
func (t *Tx) shiftHeld(id ID, step time.Duration) error {
	at, ok := t.heldSince(id)
	if !ok {
		return nil
	}
	return t.tx.Bucket(bucketHeldSince).Put(id.Key(), binary.BigEndian.AppendUint64(nil, uint64(at.Add(step).UnixNano())))
}

// sharedCopyKept reports whether the shadow copy m names stays at its
// holder for another record here (a part of a split message, a later
// transaction of it: siblingcopy.go, copyNeededElsewhere) — no hold or
// quarantine of m settled it, nor will its release. The holder knows
// nothing of m's hold: it takes the copy over by the copy's own receipt
// time (message_expiration and shadowExpiryGrace after it, with no
// discard), and the release pushes no copy again that could carry a
// later age to it (markReleasedSingle marks nothing while the copy is
// kept for the sibling: copyKeptForSibling; a push that does carry one
// renews the copy's age, renewReceiptCopyAge). So a release of such a
// part — `message resume` of a suspended or poison part, the
// quarantine's release — keeps the part's age as it was (the hold
// counted, its expiry the copy's)
// instead of taking the time held out of it (resumedFromHold) or
// starting it again (releasedFromHold): a part whose expiry came after
// its copy's was retried here while its holder took the copy over and
// delivered it (split47). A part past its expiry fails at its resume's
// claim, as it would have without the hold; the copy's own expiry is an
// hour later. Read before the release's Put (m still held): a record
// that cannot be read counts as needing the copy, so the age is kept,
// the side on which no copy outlives the part.
func (t *Tx) sharedCopyKept(m *Message) bool {
	return m.ShadowServer != "" && m.ShadowID != "" &&
		t.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID)
}
