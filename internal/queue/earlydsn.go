package queue

// A failure DSN made before the message's end carries its discard
// (doc.go, "DSNs and shadow copies"; SR-4).
//
// A failure DSN made while other recipients of its message were still
// pending — by a delivery job's own commit (jobcommit.go) or by an
// earlier attempt — carries no discard: the copy elsewhere still covers
// those recipients. Its recipients' partial discard waits for the DSN to
// leave (reportedcopy.go, bucket dsnreported). When the commit that
// makes the message done wrote the full discard at once, the holder
// dropped the copy while that DSN was still queued here, on this disk
// alone: a kill -9 for good lost the failure and its report, and after a
// takeover the shadow server's taken-done notes did not drop the DSN
// (takendone.go, droppableDSN reads the carried discard), so the sender
// could be told twice.
//
// Now that commit, about to write the full discard, looks for such a DSN
// still here (its dsnreported entry names the message and the copy) and
// makes it carry the discard instead, as the failure DSN made by the
// message's last commit does: the DSN names the copy (ShadowServer,
// ShadowID), its dsnreported entry and its mark "held by this server
// only" go (the copy covers it), and the commit that makes the DSN done
// writes the discard. One commit: a kill -9 before it leaves the message
// and the DSN as they were (the attempt's results are lost, the DSN's
// entry owes the partial discard); after it, the DSN owes the discard.
//
// A DSN in delivery has its stored record changed all the same: its
// attempt's commit, which writes the record from the attempt's copy (one
// writer per message), reads the stored one and keeps the copy it names
// (carriedInDelivery) — or, the DSN done, writes the discard it carries.
// Not a DSN whose copy of its own may exist (its mark names servers a
// copy was pushed to, or a push is in flight, or its record names a
// holder): the full discard is written at once, as before — the DSN is,
// or may be, covered by a copy of its own. A push
// of the DSN's copy that had read it before this commit and confirms
// after it finds its mark gone and its record naming a copy: the new
// copy is discarded (ShadowRecopiedOrg), the carried discard kept.
//
// The DSNs are found by the index of dsnreported by original
// (dsnreportedby, reportedcopy.go): one seek per message's end, not a
// walk over every DSN owed a partial discard, which held each such
// commit of the single writer for about 19 ms with 200,000 of them
// queued (BenchmarkEarlyDSNCarries200k: 19.5 ms, 0.05 ms by the index).

// earlyDSNCarries looks for a failure DSN made for m while other
// recipients were pending, still here and queued, that reports
// recipients of m's copy (m.ShadowServer, m.ShadowID), and makes it
// carry m's full discard in tx. It returns the DSN's id, ok false when
// none can (the caller writes the discard).
func (t *Tx) earlyDSNCarries(m *Message) (ID, bool, error) {
	b := t.tx.Bucket(bucketDSNReported)
	if b == nil || m.ShadowServer == "" || m.ShadowID == "" {
		return 0, false, nil
	}
	for _, id := range t.reportedDSNsOf(m.ID) { // the index by original (reportedcopy.go)
		reportedSteps.Add(1)
		orig, _, entries, ok := t.reportedOf(id)
		if !ok || orig != m.ID {
			continue
		}
		names := false
		for _, e := range entries {
			if sameServer(e.server, m.ShadowServer) && e.id == m.ShadowID {
				names = true
			}
		}
		if !names {
			continue
		}
		dm, err := t.Get(id)
		if err != nil {
			if err == ErrNotFound {
				continue
			}
			return 0, false, err
		}
		if !dm.Internal || dm.Connector != "dsn" || dm.State != Ready && dm.State != Active || len(dm.Pending()) == 0 || dm.ShadowServer != "" || dm.ShadowID != "" {
			continue
		}
		if v := t.tx.Bucket(bucketSingle).Get(id.Key()); v != nil {
			if _, _, pushed, _ := singleMark(v); len(pushed) > 0 || singleHeld(v) != "" {
				continue // a copy of its own may exist
			}
		}
		if p := t.tx.Bucket(bucketPushing); p != nil && p.Get(id.Key()) != nil {
			continue
		}
		if err := t.dropReported(id); err != nil {
			return 0, false, err
		}
		if err := t.dropMark(id.Key()); err != nil {
			return 0, false, err
		}
		dm.ShadowServer, dm.ShadowID = m.ShadowServer, m.ShadowID
		if err := t.Put(dm); err != nil {
			return 0, false, err
		}
		return id, true, nil
	}
	return 0, false, nil
}

// carriedInDelivery returns the copy m's stored record names when m, an
// own DSN whose attempt's copy names none, was made to carry its
// original's discard while in delivery (earlyDSNCarries): its attempt's
// commit keeps it, or writes the discard. "" otherwise. Before the write
// of m.
func (t *Tx) carriedInDelivery(m *Message) (server, id string) {
	if !m.Internal || m.Connector != "dsn" || m.ShadowServer != "" || m.ShadowID != "" {
		return "", ""
	}
	old, err := t.Get(m.ID)
	if err != nil || old.ShadowServer == "" || old.ShadowID == "" {
		return "", ""
	}
	return old.ShadowServer, old.ShadowID
}
