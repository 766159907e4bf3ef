package queue

import "slices"

// A copy given back by the attempt that would send it (rt16a F1).
//
// A copy taken over from a primary for failed heartbeats may go back to
// it when it answers again with the database it had (takenindex.go). Any
// session to it that sees that answer — a heartbeat, a watch session, a
// relay of another message (ShadowPresented) — gives back, in its
// commit, the copies still waiting. The copy in delivery is the one such
// a commit cannot touch (one writer: the attempt's commit writes it),
// and its attempt may be the very session that meets the returning
// primary: a relay of the taken-over copy to its own primary, due before
// the next heartbeat. Sending it would store it there as a new message
// when the primary has finished the original (delivered it meanwhile) —
// a second delivery. So the attempt decides, before MAIL, from what the
// claim read: the claim's commit reads the copy's entry in the index of
// taken-over copies (Message.GiveBack), and no other writer changes that
// entry while the message is in delivery (a takeover of it is kept
// aside; a give-back skips it). A recipient taken over from the
// session's primary, whose entry names the database the primary has just
// presented in its XSHADOW reply, is not sent: its result is GivenBack,
// and the commit of the attempt's results makes it Shadowed under its
// primary again, with the copy's own shadow id — a held copy, settled by
// the primary's discard for its original (fetched by the same session's
// discard query, kept aside as an early discard while the message is in
// delivery, applied by that commit) or its XQUERYHELD answer. The
// commit also checks the database again (shadowTransitions: a primary
// whose stored database is another by then takes the copy back over).
// A crash before that commit leaves the copy taken over, Active, and
// Recover makes it due: the next session decides again. Nothing was sent.

// ShadowPrimaryPresentedHere records that primary presented dbID in its
// XSHADOW of a session it opened to this server (as the shadow server of
// its own relays or copies: "XSHADOW <name> MARK=<n> DB=<id>"). Only
// the server holding that database presents its id, a secret of the
// transport servers, so when dbID is the stored one the primary is back
// with its queue, as its answer to one of this server's sessions would
// say (ShadowPresented): the copies taken over from it for failed
// heartbeats still waiting are its own again, given back in that
// commit, before a relay of one of them reaches it — the returning
// primary's own sessions often come first. Another id changes nothing
// here: this server's next session to the primary finds it (SR-7). The
// records it speaks for are its own name's and those made against its
// address in the topology (primariesOf): a primary this server relays to
// by a send connector's host name is the same server; dbID only confirms. It returns the number of messages given back.
func (q *Manager) ShadowPrimaryPresentedHere(primary, dbID string) (int, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if primary == "" || dbID == "" {
		return 0, nil
	}
	// The records it speaks for: its own name's, and the one this server
	// keeps it under as a send connector's host (primariesOf: by the
	// address the copies went to, the database id confirming).
	names, err := q.primariesOf(primary, dbID)
	if err != nil {
		return 0, err
	}
	given := 0
	for _, name := range names {
		if q.presentedNeedsNoWrite(name, dbID) { // the stored id, nothing to give back
			q.answered.note(name, q.clk.Now())
			continue
		}
		res, err := q.shadowContact(name, dbID, nil, false, true)
		if err != nil {
			return given, err
		}
		given += res.GivenBack
	}
	return given, nil
}

// giveBackOf is, for m (read in tx), the database id each copy taken
// over from a primary may go back to that primary with (Message.GiveBack,
// by giveBackKey), the one each copy was taken over under
// (Message.CopyUnder, by giveBackKey), and, per primary, the one its
// copies were taken over under (Message.TakenUnder); nil when none. Each
// copy has its own (takenEntry); of a primary whose copies here were
// taken over under two databases, TakenUnder names one other than the
// primary's stored id when there is one: the primary no longer holds
// that copy's original.
func (t *Tx) giveBackOf(m *Message) (back, under, copies map[string]string) {
	b := t.tx.Bucket(bucketTakenBy)
	if b == nil {
		return nil, nil, nil
	}
	for _, p := range takenFrom(m) {
		e := decodeTaken(b.Get(takenByKey(p, m.ID)))
		var stored string
		for _, sid := range takenSIDs(m, p) {
			u, g := parseTaken(e.of(sid))
			if g != "" {
				if back == nil {
					back = map[string]string{}
				}
				back[giveBackKey(p, sid)] = g
			}
			if u == "" {
				continue
			}
			if copies == nil {
				copies = map[string]string{}
			}
			copies[giveBackKey(p, sid)] = u
			if under == nil {
				under = map[string]string{}
			}
			if prev, ok := under[p]; !ok {
				under[p] = u
			} else if prev != u {
				if stored == "" {
					stored = t.peerDatabase(p)
				}
				if prev == stored {
					under[p] = u
				}
			}
		}
	}
	return back, under, copies
}

// giveBackKey is the key of Message.GiveBack for the copy sid taken over
// from primary.
func giveBackKey(primary, sid string) string {
	return serverKey(primary) + "\x00" + sid
}

// GiveBackRcpts splits rcpts, recipients of m in delivery, for a shadow
// session with primary that presented database dbID in its XSHADOW
// reply: back, the copies taken over from that primary which go back to
// it (dbID is the database that copy was taken over from: each copy its
// own), and send, the rest.
func GiveBackRcpts(m *Message, rcpts []int, primary, dbID string) (back, send []int) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	for _, i := range rcpts {
		if i >= 0 && i < len(m.Rcpts) && takenOverRcpt(&m.Rcpts[i]) && m.Rcpts[i].Primary == primary &&
			dbID != "" && m.GiveBack[giveBackKey(primary, m.Rcpts[i].ShadowID)] == dbID {
			back = append(back, i)
		} else {
			send = append(send, i)
		}
	}
	return back, send
}

// TakenOverIn reports whether any of rcpts, recipients of m in
// delivery, is a copy taken over from a primary (its original may live
// on there): such a recipient goes to a transport server only over a
// shadow session, whose copy and discard its primary hears of — never
// as a plain relay to a server that refused the session (rt27a F1).
func TakenOverIn(m *Message, rcpts []int) bool {
	for _, i := range rcpts {
		if i >= 0 && i < len(m.Rcpts) && takenOverRcpt(&m.Rcpts[i]) {
			return true
		}
	}
	return false
}

// GivenBackResult is the result of recipient i of m given back to primary
// (GiveBackRcpts) in a session with it at addr (through the send
// connector via, "" inside the organisation) that presented dbID.
func GivenBackResult(m *Message, i int, primary, addr, via, dbID string) Result {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return Result{Rcpt: i, Outcome: GivenBack, Queue: "shadow:" + primary, Primary: primary, PrimaryAddr: addr, PrimaryVia: via,
		PrimaryDB: dbID, ShadowID: m.Rcpts[i].ShadowID,
		Reply: "given back to " + primary + ": it answered again with the transport database the copy was taken over from"}
}

// withdrawTakenWaiting takes out of the scheduler's queues the copies
// taken over from primary under dbID whose every job only waits for a
// slot of its destination's window (rt47 F1a). Claimed, such a copy is
// Active on disk, but no attempt of it has reached a next hop: it is not
// in delivery, and a give-back must take it like a Ready one — kept
// taken over, the returning primary was told it BUSY and kept its
// original back for an attempt that had not begun (all 21 of a slow next
// hop's backlog where 5 ran). The caller's commit gives them back with
// t.withdrawn set to the ids returned, and settles each withdrawal
// after it: ended when the record left Active, put back at the head of
// its queues otherwise (settle). None when dbID is "".
func (q *Manager) withdrawTakenWaiting(primary, dbID string) map[ID]*withdrawal {
	if dbID == "" {
		return nil
	}
	ids := map[ID]bool{}
	_ = q.store.View(func(tx *Tx) error {
		taken, entries := tx.takenOverOf(primary)
		for i, id := range taken {
			if slices.Contains(entries[i].values(), dbID) {
				ids[id] = true
			}
		}
		return nil
	})
	if len(ids) == 0 {
		return nil
	}
	return q.withdrawWhere(func(id ID, d *dest) bool { return !d.task && ids[id] })
}
