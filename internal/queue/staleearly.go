package queue

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// staleEarly is a discard kept aside (bucket early) that a copy pushed
// after it made stale (takeEarlyForPush): its mark, seen, is below the
// copy's, or it is of another database of the primary. The discard is
// forgotten and the copy kept — rightly for a copy made again after the
// discard, but a copy kept so is one no discard of the primary settles
// if the mark presented with the discard was read too early (a primary
// of an earlier release: earlystale.go). Such a copy is held for good
// and delivered a second time when the primary is lost, so each one is
// logged (warn), tracked (its "shadow" event says so) and counted
// (StaleEarlyDiscards, umbra_shadow_stale_early_discards_total): an
// operator can find it and ask the primary (XQUERYHELD sweeps it within
// the hour as well).
type staleEarly struct {
	primary, id string // id: the org id, or a partial discard's key (earlyPartialID)
	seen        uint64 // the discard's mark
	db          string // the discard's database id
	mark        uint64 // the copy's mark
	dbID        string // the copy's database id
}

// why is the reason the discard was judged stale, in words.
func (s staleEarly) why() string {
	if s.db != "" && s.dbID != "" && s.db != s.dbID {
		return "the copy is of another database of " + s.primary + " (" + s.dbID + ", the discard's " + s.db + ")"
	}
	return "the copy's mark " + strconv.FormatUint(s.mark, 10) + " is above the discard's " + strconv.FormatUint(s.seen, 10)
}

// StaleEarlyDiscards counts the copies on receipt kept over a discard
// kept aside that this server judged stale (staleEarly) since it started.
func (q *Manager) StaleEarlyDiscards() uint64 { return q.staleEarly.Load() }

// noteStaleEarly logs and counts the discards judged stale for the copy
// of org id org kept from primary; it returns the words its "shadow"
// event adds ("" for none).
func (q *Manager) noteStaleEarly(primary, org string, stale []staleEarly) string {
	if len(stale) == 0 {
		return ""
	}
	q.staleEarly.Add(uint64(len(stale)))
	for _, s := range stale {
		q.log.Warn("shadow copy kept over an earlier discard judged stale: if the primary meant that discard for this copy, no discard will settle it",
			"primary", primary, "org_id", org, "discard", s.id, "why", s.why())
	}
	return "; kept over an earlier discard judged stale (" + stale[0].why() + ")"
}

// forgetEarlyAboveTx forgets, in the commit that finds primary's
// database dbID rolled back to mark, the discards kept aside for it
// (bucket early: those that came before their copy, and those that
// settled one, rememberAppliedDiscard) under a mark of dbID above mark.
// The rolled-back primary counts its copies from mark again, so a copy
// it makes now can carry a mark no higher than such a discard's: taken
// by it, the copy was answered as discarded and not kept while the
// primary named this server — lost with the primary. Forgotten, a push
// from before the rollback still on its way is kept instead: a copy the
// primary may not name (asked about within the hour, XQUERYHELD), never
// one lost.
func (t *Tx) forgetEarlyAboveTx(primary, dbID string, mark uint64) error {
	b := t.tx.Bucket(bucketEarly)
	if b == nil {
		return nil
	}
	prefix := discardKey(primary, "")
	var drop [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) >= 16 && binary.BigEndian.Uint64(v[8:16]) > mark && string(v[16:]) == dbID {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
