package queue

import (
	"bytes"
	"strings"
)

// Early discards a crash left behind. A primary's discard that arrives
// while the message it names is in delivery here waits in bucket early
// for the commit that ends the attempt (doc.go, "One writer per
// message"): it may be for a copy that very attempt is making — the
// relay's 250 came, the primary finished the message, its discard was
// fetched, and the results are not committed yet. When the attempt's
// results are lost — a kill -9 before that commit (Recover), a commit
// that failed (stranded.go), umbra's code panicking on the message
// (poison) — the commit that makes the message leave delivery finds no
// copy to apply the discard to, and the recipients are pending again. The discard is
// then spent — the copy it named is one this database never recorded,
// and a discard for it arriving now would be ignored (applyDiscardsTx
// finds nothing shadowed under its id). Left in bucket early, it would
// wait for the next attempt, which relays the message to the same
// primary — under the same shadow id when that primary speaks a shadow
// verb version below 8 (the message id and a hash of the primary;
// copyid.go): that attempt's commit would apply it to the new copy,
// whose record at the primary is a new one still to be delivered — the
// shadow server dropping the only other copy of it. (To a version-8
// primary the next attempt's id is a new one, which the discard does not
// name; dropping it is then only tidying.)

// dropSpentEarlyDiscards removes, in tx, the early discards that name a
// copy of a relay of one of the messages ids (a shadow id "<id>-…"), after
// the commit has applied them to the records (putLeavingTook). One pass
// over bucket early, whatever the number of messages.
func (t *Tx) dropSpentEarlyDiscards(ids map[ID]bool) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	b := t.tx.Bucket(bucketEarly)
	var spent [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			continue
		}
		hexID, _, ok := strings.Cut(string(k[i+1:]), "-")
		if !ok {
			continue // a copy on receipt's (its org id): not a relay's
		}
		if id, err := ParseID(hexID); err == nil && ids[id] {
			spent = append(spent, bytes.Clone(k))
		}
	}
	for _, k := range spent {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(spent), nil
}

// dropSpentEarlyDiscardsOf is dropSpentEarlyDiscards for the one message
// of an attempt's commit, without a walk over bucket early: an early
// discard is written in the commit that records its primary
// (shadowContact writes the primary's shadowpeers record), so each
// primary's keys for this message's relays are found by one seek. A
// primary's record dropped since (peerGrace without copies) leaves its
// early discards to the next Recover-like commit or to pruning.
func (t *Tx) dropSpentEarlyDiscardsOf(id ID) error {
	b := t.tx.Bucket(bucketEarly)
	if k, _ := b.Cursor().First(); k == nil {
		return nil // the usual case: nothing kept aside at all
	}
	rel := id.String() + "-"
	var spent [][]byte
	c := b.Cursor()
	err := t.tx.Bucket(bucketPeers).ForEach(func(primary, _ []byte) error {
		prefix := discardKey(string(primary), rel)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			spent = append(spent, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range spent {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
