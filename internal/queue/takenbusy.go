package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"umbra/internal/orgid"
)

// A taken-over copy in delivery on its holder when the primary returns
// (shadowdup34).
//
// A copy taken over for failed heartbeats goes back to its primary when
// the primary answers again with the database it had — every copy but
// the one in delivery, which its attempt's commit writes (one writer;
// givebackrelay.go). That attempt may be waiting for its next hop's
// reply to the final dot (up to data_timeout) when the returning
// primary asks what was finished (XQUERYTAKENDONE, takendone.go):
// nothing is noted yet, so the primary used to deliver its original as
// well — one message to the next hop twice, in a window of the next
// hop's whole wait, not a moment.
//
// The holder now says so (shadow verbs 21, "XQUERYTAKENDONE <max> HELD
// BUSY"; package smtp): after the notes, a line "<id> BUSY" for each
// copy taken over under the asking primary's database whose record is in
// delivery here (State Active) — read from the index of taken-over
// copies (takenindex.go), nothing stored, nothing to forget
// (TakenBusyFor). A copy's attempt that ends delivered, relayed out or
// failed writes its note in its commit (takendone.go); one that ends
// deferred leaves the copy taken over, and the primary's next session
// gives it back in its XSHADOW's commit, before its question: the copy
// is then neither listed nor noted.
//
// The primary keeps each original such a line names (its record names
// the holder and the copy, as a note's would — or, under its org id,
// the holder is the one it is kept back for, or one its copy was pushed
// to before a copy was made again elsewhere: formerHolder; and a failure DSN here
// that carries that copy's discard, which a note of the attempt may
// drop, rt22a M1 — rr35) out of delivery, in one
// commit (ShadowCopiesBusy), in bucket takenbusy:
//
//	takenbusy  message id (8, BE) → until (8, BE) ‖ holder (serverKey) [‖ NUL ‖ holder …]
//
// (every server that said BUSY of it: the copy pushed before a stop cut
// the push short and the copy made again elsewhere may both be taken
// over and delivered; neither holder's answer ends the entry while the
// other still names it, rrbusy42 F1)
// and its record Ready with NextAttempt at until (no retry step used:
// Attempts is not counted) and LastError saying why, for message show.
// The claim (activeset.go) skips a record with an entry until then,
// whatever made it due (an operator's queue flush or retry included).
// Each later complete answer of that holder — its next probe, every
// shadow_heartbeat_timeout — settles it: a note finishes the recipients
// elsewhere (as today); BUSY again keeps it (until renewed); neither
// (given back, or failed there after a deferral) takes that holder off
// the entry, and the last one off ends the entry and
// makes the original due at once: it is delivered as today. An answer
// cut short (a failed command, more batches than one probe reads)
// changes no entry. An entry whose until passes with no answer (the
// holder unreachable: its attempt is bounded by its data_timeout, which
// until covers) ends at the claim, logged at WARN, and the original is
// delivered: a duplicate at worst, never a loss. An original that goes
// (finished, removed by an operator) takes its entry with it (Tx.Delete).
//
// Crash: the entry and the record's NextAttempt are one commit; a crash
// of the primary before it leaves the original as it was (delivered as
// before this change, after the start's probe asks again: the copy is
// still in delivery there, or finished and noted); after it, the entry
// holds across the restart. A crash of the holder ends its attempt: its
// Recover makes the copy due again, still taken over, and the primary's
// next session gives it back (or, in delivery again, hears BUSY). An
// older holder (below 21) never says BUSY, an older primary never asks
// it: each sees the replies of version 20, and the window stays as it
// was.

// TakenBusy is the wire word of a copy in delivery on its holder.
const TakenBusy = 'B'

// takenBusyValue is the value of bucket takenbusy: until, then each
// holder that said BUSY of the original's copy (serverKey), NUL between
// them. Two servers may each hold a copy and have taken it over — the
// one a stop cut the push of short and the one it was made again on
// (formerHolder) — and each keeps the original back until its own
// answer lists it no more (rrbusy42 F1: one holder named, the second's
// line replaced the first's, and the second's answer without it
// released the original while the first still delivered it). An entry
// of one holder is written as before.
func takenBusyValue(until time.Time, holders []string) []byte {
	v := make([]byte, 8, 8+len(strings.Join(holders, "\x00")))
	binary.BigEndian.PutUint64(v, uint64(nanos(until)))
	return append(v, strings.Join(holders, "\x00")...)
}

func parseTakenBusy(v []byte) (until time.Time, holders []string, ok bool) {
	if len(v) < 8 {
		return time.Time{}, nil, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))), strings.Split(string(v[8:]), "\x00"), true
}

// TakenBusyFor lists, for the primary that presented dbID, up to max
// copies taken over from that database that are in delivery here
// ("<id> BUSY").
//
// A copy claimed here whose every job only waits for a slot of its
// destination's window is in no attempt with its next hop: not BUSY
// (rt47 F1a). The give-back of the primary's session took such copies
// out of the window's queues before this question; one claimed since is
// given back now (the primary presented dbID, the database it was taken
// over from), and listed BUSY only if it could not be (the primary's
// stored database is another by now), so that the primary never
// releases an original whose copy may still go out here.
func (q *Manager) TakenBusyFor(dbID string, max int) []TakenDone {
	out, waiting := q.takenBusyFor(dbID, max, true)
	if len(waiting) == 0 {
		return out
	}
	for _, primary := range waiting {
		if _, err := q.shadowContact(primary, dbID, nil, false, true); err != nil {
			q.log.Warn("taken-over copies waiting for a slot not given back to their returning primary; told in delivery here", "primary", primary, "err", err)
		}
	}
	out, _ = q.takenBusyFor(dbID, max, false)
	return out
}

// takenBusyFor is TakenBusyFor's listing. With skipWaiting, a copy whose
// every job waits for a window's slot is left out, and the primaries of
// such copies are returned.
func (q *Manager) takenBusyFor(dbID string, max int, skipWaiting bool) (out []TakenDone, waiting []string) {
	if dbID == "" || max <= 0 {
		return nil, nil
	}
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTakenBy)
		if b == nil {
			return nil
		}
		seen := map[string]bool{}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) != i+9 {
				continue
			}
			e := decodeTaken(v)
			under := func(sid string) string { u, _ := parseTaken(e.of(sid)); return u }
			if !slices.ContainsFunc(e.values(), func(v string) bool { u, _ := parseTaken(v); return u == dbID }) {
				continue
			}
			m, err := tx.Get(ID(beUint64(k[i+1:])))
			if err != nil || m.State != Active {
				continue
			}
			primary := string(k[:i])
			if skipWaiting && q.WaitingForWindow(m.ID) {
				if !slices.Contains(waiting, primary) {
					waiting = append(waiting, primary)
				}
				continue
			}
			for j := range m.Rcpts {
				r := &m.Rcpts[j]
				// Each copy under its own database (takenEntry).
				if r.Status == Pending && takenOverRcpt(r) && r.Primary == primary && under(r.ShadowID) == dbID && !seen[r.ShadowID] && len(out) < max {
					seen[r.ShadowID] = true
					out = append(out, TakenDone{ID: r.ShadowID, Kind: TakenBusy})
				}
			}
		}
		if len(out) < max && q.RestoredAskPending() {
			out = tx.restoredBusyFor(dbID, max, seen, out)
		}
		return nil
	})
	return out, waiting
}

// restoredBusyFor appends to out, for the primary that presented dbID,
// a "<id> BUSY" line per copy of the backup's (restoredHandedUpTo) held
// here for it — shadowed, or taken over and pending — while this
// restored database waits for every transport server's answer about its
// predecessor's copies (RestoredAskPending): its replaced database may
// have taken such a copy over and handed it to another server, which
// delivers it, and only that server's TAKEN line tells (restoredhanded
// .go). The primary keeps its original back as for a copy in delivery
// here (ShadowCopiesBusy, bounded there and renewed by each answer that
// lists it); once the answers are in, the settled copy is told RELAYED
// (noteHandedForPrimary), and the others are listed no more, so their
// originals go out. The wait is the restored database's: at most the
// takeover bound from its start.
func (t *Tx) restoredBusyFor(dbID string, max int, seen map[string]bool, out []TakenDone) []TakenDone {
	upTo, ok := t.restoredHandedUpTo()
	if !ok {
		return out
	}
	peers, _, err := t.Peers()
	if err != nil {
		return out
	}
	for _, p := range peers {
		if p.DatabaseID != dbID {
			continue
		}
		// The held copies are in the shadow queue; a taken-over one may
		// wait in its route's queue (held there by an attempt, a
		// redirect): the index of taken-over copies names it wherever it
		// is (takenindex.go; finalshadow40: only the shadow queue was
		// read, and such a copy was not told BUSY).
		ids := t.InQueue("shadow:"+p.Primary, 1<<31-1)
		listed := make(map[ID]bool, len(ids))
		for _, id := range ids {
			listed[id] = true
		}
		taken, _ := t.takenOverOf(p.Primary)
		for _, id := range taken {
			if !listed[id] {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			if id > upTo || len(out) >= max {
				continue
			}
			m, err := t.Get(id)
			if err != nil {
				continue
			}
			for j := range m.Rcpts {
				r := &m.Rcpts[j]
				if (r.Status == Shadowed || takenOverRcpt(r)) && sameServer(r.Primary, p.Primary) && r.ShadowID != "" && !seen[r.ShadowID] && len(out) < max {
					seen[r.ShadowID] = true
					out = append(out, TakenDone{ID: r.ShadowID, Kind: TakenBusy})
				}
			}
		}
	}
	return out
}

// formerHolder reports whether server (or a name of its database,
// aliases) may keep the copy of m pushed under its org id though m's
// record names another holder now (rt42-shadowrcpt F1): m is kept back
// for server's copy in delivery there (its takenbusy entry names
// server); or a copy was pushed there without confirmation (its
// single-copy mark lists server: a push a stop cut short, pushcrash.go)
// — and, made again elsewhere since, server is owed that copy's discard
// and has not fetched it. Such a server may have taken that copy over
// while this one was away and be delivering it, or have finished it:
// its BUSY line keeps m back and its notes finish m's recipients, as
// for the holder the record names (ShadowCopiesBusy,
// ShadowFinishedElsewhere). Without it, the copy made again on another
// server made the answers of the one that took the first copy over
// speak of no original: the original was released and delivered here
// too.
func (t *Tx) formerHolder(m *Message, server string, aliases map[string]bool) bool {
	if m.OrgID == "" || !needsCopyMarked(m) {
		return false
	}
	key := serverKey(server)
	is := func(name string) bool { k := serverKey(name); return k != "" && (k == key || aliases[k]) }
	if _, holders, ok := t.takenBusyUntil(m.ID); ok && slices.ContainsFunc(holders, is) {
		return true
	}
	if _, _, pushed, ok := singleMark(t.tx.Bucket(bucketSingle).Get(m.ID.Key())); ok && slices.ContainsFunc(pushed, is) {
		return true
	}
	if b := t.tx.Bucket(bucketDiscards); b != nil {
		for _, name := range t.holderNamesTx(server) {
			if b.Get(discardKey(name, m.OrgID)) != nil {
				return true
			}
		}
	}
	return false
}

// takenBusyUntil is the entry of m's id in bucket takenbusy, if any.
func (t *Tx) takenBusyUntil(id ID) (until time.Time, holders []string, ok bool) {
	b := t.tx.Bucket(bucketTakenBusy)
	if b == nil {
		return time.Time{}, nil, false
	}
	return parseTakenBusy(b.Get(id.Key()))
}

// dropTakenBusy ends the entry of id.
func (t *Tx) dropTakenBusy(id ID) error {
	if b := t.tx.Bucket(bucketTakenBusy); b != nil {
		return b.Delete(id.Key())
	}
	return nil
}

// takenBusyReason is the record's LastError while it waits.
func takenBusyReason(server string) string {
	return "kept back: its shadow copy is in delivery on " + server +
		", which took it over; delivered here only if that attempt does not finish it (" + server + " is asked again every shadow_heartbeat_timeout)"
}

// ShadowCopiesBusy records what holder server answered to this server's
// question (askTakenDone, shadow verbs 21): the copies ids are in
// delivery there. Each original of this server's a line names
// (as a note would: its record names server as its copy's holder
// under that id), Ready with a recipient pending, is kept out of
// delivery until hold from now (renewed by each such answer). When
// complete (the holder told every note and line it had), every entry of
// that holder's whose copy is not named ends, and its original is due at
// once. It returns the originals newly kept back and those released.
func (q *Manager) ShadowCopiesBusy(server string, ids []string, complete bool, hold time.Duration) (kept, released []*Message, err error) {
	key := serverKey(server)
	if key == "" {
		return nil, nil, nil
	}
	if len(ids) == 0 && !q.takenBusyOf(key) {
		return nil, nil, nil // nothing kept for it: no commit at each probe
	}
	now := q.clk.Now()
	until := now.Add(hold)
	err = q.store.Update(context.Background(), func(tx *Tx) error {
		kept, released = kept[:0], released[:0]
		named := map[ID]bool{}
		var b = tx.tx.Bucket(bucketTakenBusy)
		if len(ids) > 0 && b == nil {
			nb, err := tx.tx.CreateBucketIfNotExists(bucketTakenBusy)
			if err != nil {
				return err
			}
			b = nb
		}
		if b == nil {
			return nil // nothing kept, nothing named
		}
		aliases := tx.holderAliasesTx(server)
		var keep func(m *Message) error
		consider := func(m *Message, id string) error {
			if named[m.ID] || len(m.Pending()) == 0 {
				return nil
			}
			var isNamed, held bool
			if carriesOthersCopy(m) {
				// A failure DSN here that carries the discard of the copy
				// in delivery there (rt22a M1; ShadowFinishedElsewhere's
				// carrying): kept back too, so that a note of that
				// attempt can drop it before it is sent (rr35).
				isNamed = m.ShadowID == id && (sameServer(m.ShadowServer, server) || aliases[serverKey(m.ShadowServer)])
			} else {
				isNamed = holdsCopyOnAny(m, server, aliases) && m.ShadowID == id
				hc := serverKey(tx.heldCopy(m.ID))
				held = !isNamed && id == m.OrgID && needsCopyMarked(m) && (hc == key || aliases[hc] || tx.formerHolder(m, server, aliases))
			}
			if !isNamed && !held {
				return nil
			}
			named[m.ID] = true
			if !carriesOthersCopy(m) {
				// A failure DSN made here while other recipients were
				// pending carries no discard; its dsnreported entry names
				// the copy (ShadowFinishedElsewhere's shadowrt35 F1): kept
				// back too, so that a note of that attempt can drop it.
				for _, did := range tx.reportedDSNsOf(m.ID) {
					orig, _, entries, ok := tx.reportedOf(did)
					if !ok || orig != m.ID || named[did] {
						continue
					}
					for _, e := range entries {
						if (sameServer(e.server, server) || aliases[serverKey(e.server)]) && e.id == id {
							if dm, err := tx.Get(did); err == nil && dm.OwnDSN() && len(dm.Pending()) > 0 {
								named[did] = true
								if dm.State == Ready {
									if err := keep(dm); err != nil {
										return err
									}
								}
							}
							break
						}
					}
				}
			}
			if m.State != Ready {
				return nil // in delivery here already, or held: not this answer's to change
			}
			return keep(m)
		}
		keep = func(m *Message) error {
			// Every holder that said BUSY of it stays on the entry, and
			// the entry lasts until the latest renewal of any of them.
			was, holders, had := parseTakenBusy(b.Get(m.ID.Key()))
			if !slices.Contains(holders, key) {
				holders = append(holders, key)
			}
			if err := b.Put(m.ID.Key(), takenBusyValue(maxTime(was, until), holders)); err != nil {
				return err
			}
			if m.NextAttempt.Before(until) || m.LastError != takenBusyReason(server) {
				m.NextAttempt = maxTime(m.NextAttempt, until)
				sayWhy(m, takenBusyReason(server))
				if err := tx.Put(m); err != nil {
					return err
				}
			}
			if !had {
				kept = append(kept, m)
			}
			return nil
		}
		for _, id := range ids {
			if orgid.Valid(id) {
				for _, mid := range tx.ByOrgID(id) {
					if m, err := tx.Get(mid); err == nil {
						if err := consider(m, id); err != nil {
							return err
						}
					}
				}
			}
			for _, m := range tx.byShadowID(id) {
				if err := consider(m, id); err != nil {
					return err
				}
			}
		}
		if !complete {
			return nil
		}
		var ends []ID
		left := map[ID][]byte{}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 || named[ID(beUint64(k))] {
				continue
			}
			u, holders, ok := parseTakenBusy(v)
			switch {
			case !ok || (len(holders) == 1 && holders[0] == key):
				ends = append(ends, ID(beUint64(k)))
			case slices.Contains(holders, key):
				// Another server that said BUSY of it has not answered
				// without the line yet: still kept back for that one.
				left[ID(beUint64(k))] = takenBusyValue(u, slices.DeleteFunc(holders, func(h string) bool { return h == key }))
			}
		}
		for id, v := range left {
			if err := b.Put(id.Key(), v); err != nil {
				return err
			}
		}
		for _, id := range ends {
			if err := b.Delete(id.Key()); err != nil {
				return err
			}
			m, err := tx.Get(id)
			if err != nil || m.State != Ready || len(m.Pending()) == 0 {
				continue // gone, finished elsewhere, or not waiting
			}
			m.NextAttempt = now
			if m.LastError == takenBusyReason(server) {
				sayWhy(m, "its shadow copy is no longer in delivery on "+server+" (given back, or not finished there): delivered here")
			}
			if err := tx.Put(m); err != nil {
				return err
			}
			released = append(released, m)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, m := range kept {
		q.log.Info("original kept back: its copy in delivery on the shadow server that took it over; delivered here only if that attempt does not finish it",
			"msg_id", m.ID.String(), "shadow_server", server, "until", until)
	}
	for _, m := range released {
		q.log.Info("original released: its copy is no longer in delivery on the shadow server that took it over (given back, or not finished there); delivered here",
			"msg_id", m.ID.String(), "shadow_server", server)
	}
	if len(released) > 0 {
		q.Kick()
	}
	return kept, released, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// busyEnd is an entry of bucket takenbusy the claim ended unanswered.
type busyEnd struct {
	id     ID
	holder string
}

// takenBusyOf reports whether an original is kept back for holder key.
func (q *Manager) takenBusyOf(key string) bool {
	found := false
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketTakenBusy)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			if _, holders, ok := parseTakenBusy(v); !ok || slices.Contains(holders, key) {
				found = true
			}
			return nil
		})
	})
	return found
}

// sayWhy sets why m waits as its last error and its pending recipients'
// last reply, the one message show reads (CurrentError).
func sayWhy(m *Message, why string) {
	m.LastError = why
	for _, i := range m.Pending() {
		m.Rcpts[i].LastReply = why
	}
}
