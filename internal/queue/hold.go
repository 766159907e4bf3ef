package queue

import "time"

// An operator's hold (SuspendMessage, `umbra message suspend`) is a hold
// on every server of the organisation, as a quarantine is
// (quarantine.go): while the message is held, no other server may take
// it over and deliver it. A shadow server knows nothing of this
// server's holds — it takes a copy over when its primary fails for the
// takeover delay — so the commit that suspends a message writes the
// discard notification for the message's own shadow copy (its
// ShadowServer and ShadowID: the copy pushed on receipt, or the copy
// the server that relayed the message here keeps): the shadow server
// drops the copy at its next contact, and the held message lives on
// this server only until it is delivered. The hold and the discard are
// one commit, so a crash leaves neither or both.
//
// What this costs: from the hold on, the message has one copy, on this
// server's disk; a lost disk loses it (the quarantine's rule too). A
// release (ResumeMessage) does not make a new copy: the message is
// delivered from here alone.
//
// The record keeps ShadowServer and ShadowID, so that
//   - a copy the shadow server took over anyway (the primary died
//     before the discard was fetched) and resubmits here still merges
//     into the held original (mergeHeld: a suspended recipient is
//     pending) instead of being delivered past the hold, and the
//     sender's copy is discarded in that commit at once (the original's
//     discard was already written);
//   - the discard written again when the message finishes is one its
//     peer ignores (it holds no copy of that id any more);
//   - delivery still knows where the message came from (messageOrigin).
//
// XQUERYHELD answers "done" for a suspended message's copy (heldquery.go),
// in agreement with the discard.
//
// Not a hold in this sense, and so not settled: a suspended queue (a
// destination's maintenance: the mail is due to be delivered, and a
// takeover during an outage of this server is what the copy is for),
// a redirect (a route of this server's), and the poison queue (held by
// umbra, not by the operator, and its copy may be the only sound one: a
// body found unreadable here is whole at the shadow server).

// settleHeldCopy writes, in tx, the discard notification for the shadow
// copy of m, which the caller's commit holds. It reports whether m has
// one.
func settleHeldCopy(tx *Tx, m *Message, now time.Time) (bool, error) {
	// Another record here under the same shadow id may still need the
	// copy (siblingcopy.go): then its end writes the discard.
	return tx.addCopyDiscard(m, now)
}

// heldCopySettled tells, after the commit, the shadow server's waiting
// sessions of the discard and tracks it.
func (q *Manager) heldCopySettled(m *Message) {
	q.log.Info("message held: its shadow copy is discarded, the message lives on this server only until delivered",
		"msg_id", m.ID.String(), "shadow_server", m.ShadowServer)
	q.ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" prepared: held by the administrator")
	q.dsig.signal(m.ShadowServer)
}
