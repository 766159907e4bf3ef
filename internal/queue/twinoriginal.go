package queue

// A copy held here of a message whose original this server holds too
// (rt47 F1b: SR-6, SR-14).
//
// One server can come to hold two records of one message under one org
// id: its original, and a copy another server made here of that same
// message — hub-d took hub-c's copy on receipt over while hub-c was away
// and, delivering it as its own, made its shadow copy again on hub-c,
// hub-c's original kept back meanwhile (takenbusy.go). Lost hub-d left
// both to hub-c: the takeover made the copy due, the keep-back's end
// released the original, and hub-c delivered the message twice itself.
//
// So a takeover — after failed heartbeats, at the copy's expiry, of a
// copy its primary gave here (handback.go), or set aside while the copy
// was in delivery here and applied as it leaves (applyEarlyTakeovers) —
// settles, in its commit, every recipient of the copy that an original
// of this server's under the same org id still owes (pending, its own —
// not one it took over itself — and with a body here that reads whole)
// or that this server finished already (finished.go): Relayed, with no DSN, the original
// delivering it (or having delivered it) once. The copy's other
// recipients are taken over as before; a copy left with nothing goes.
// A crash before the commit leaves the copy held, taken over at the next
// failed heartbeat as now; after it, the settled recipients stand.
//
// An original an operator's hold keeps — suspended, quarantined, or in
// the poison queue with a body that reads whole — owes its recipients
// all the same: holds are holds on every server (hold.go), so the copy
// is settled, never delivered behind the hold, and the original's
// release (or removal) decides for both. A poison original whose body
// does not read whole owes nothing: the copy is the sound one and is
// taken over (TestTakeoverOfCopyOfUnreadableOriginalKeepsTheCopy).

// twinReply is the last reply of a copy's recipient an original here
// settles.
func twinReply(o ID) string {
	return "settled by this server's original " + o.String() + " of the same message: delivered from there, never twice"
}

// settleByOriginalTx settles m's recipients shadowed for primary that an
// original of this server's under m's org id owes or that this server
// finished (above). It reports whether it changed any.
func (t *Tx) settleByOriginalTx(m *Message, primary string) bool {
	return t.settleByOriginalExceptTx(m, primary, nil)
}

// settleByOriginalExceptTx is settleByOriginalTx leaving the recipients
// keep names (by index; nil: none) as they are: a takeover applied as a
// copy leaves delivery spares those its attempt made or gave back
// (applyEarlyTakeoversBack).
func (t *Tx) settleByOriginalExceptTx(m *Message, primary string, keep func(i int) bool) bool {
	if m.OrgID == "" {
		return false
	}
	type owed struct{ id ID }
	match := newRcptMatch[owed]()
	found := false
	for _, id := range t.ByOrgID(m.OrgID) {
		if id == m.ID {
			continue
		}
		o, err := t.Get(id)
		if err != nil || o.State == Shadow {
			continue
		}
		sound := false // read once, and only for an original that owes one
		for _, r := range o.Rcpts {
			// Its own to deliver: pending, not a copy it took over —
			// and deliverable: an original whose body here does not
			// read whole (held as poison for it, or found so by this
			// read) settles nothing; the copy's body is the sound one.
			if r.Status != Pending || r.Primary != "" {
				continue
			}
			if !sound {
				if !t.bodySoundHere(o) {
					break
				}
				sound = true
			}
			match.put(r.Addr, owed{o.ID})
			found = true
		}
	}
	changed := false
	twins := newCaseTwins(m.Rcpts)
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Status != Shadowed || r.Primary != primary || keep != nil && keep(i) {
			continue
		}
		if o, ok := match.get(r.Addr); found && ok {
			r.Status, r.LastReply, changed = Relayed, twinReply(o.id), true
			continue
		}
		if t.finishedHere(m, *r, twins) {
			r.Status, r.LastReply, changed = Relayed, "settled: this server finished it already as its own (its original of the same message)", true
		}
	}
	return changed
}

// settleByOriginalNow applies settleByOriginalTx to m in a takeover's
// commit: settled says it changed m (the caller writes it), gone that m
// was left with nothing and is removed.
func (t *Tx) settleByOriginalNow(m *Message, primary string) (settled, gone bool, err error) {
	if !t.settleByOriginalTx(m, primary) {
		return false, false, nil
	}
	if nothingLeft(m) {
		return true, true, t.Delete(m.ID)
	}
	return true, false, nil
}
