package queue

import (
	"sync/atomic"
	"time"
)

// Entered held here only. A message can enter this server's queue in
// ways that make no shadow copy: a dumpster redelivery (its copy moves
// from the dumpster to the queue), a file of the pickup directory (the
// file stays beside the database, on the same disk), a report or a DSN
// this server writes. From its commit on, such a message is on this
// server's disk alone, like one accepted "no shadow copy" on receipt
// (Message.NoCopy): a lost disk loses it. So the commit that stores it
// marks it held by this server only (bucket singlecopy, holders.go), by
// one helper, MarkEnteredSingle: the views show it (shadow single,
// message show, umbra_shadow_single_copy_messages) and the holders'
// pass pushes its copy to a shadow server by the preference of the
// connector it came in by (prefer-remote for one that is no receive
// connector: pickup, dsn, a redelivery), as for a copy lost with its
// holder's database; the copy's discard then follows the message's end.
//
// The mark is made only where copies are made at all: on a server that
// runs the holders' pass (shadow redundancy on and a topology to choose
// shadow servers from; Store.SetShadowCopies). Without it every message
// is on one disk, and marking some of them would tell the operator
// nothing. A message a receive connector wanted a copy of and did not
// get one (NoCopy) is marked in any case: the connector's
// shadow_on_receipt needs a topology.

// shadowCopies is set while this server makes shadow copies of the
// messages it holds (SetShadowCopies).
type shadowCopies struct{ on atomic.Bool }

// SetShadowCopies tells the store whether this server makes shadow
// copies of the messages it holds (the holders' pass runs): then a
// message entering the queue with no copy elsewhere is marked held by
// this server only in its commit (MarkEnteredSingle).
func (s *Store) SetShadowCopies(on bool) { s.copies.on.Store(on) }

// makesCopies reports SetShadowCopies' setting for the store whose commit
// runs t (false outside one).
func (t *Tx) makesCopies() bool { return t.store != nil && t.store.copies.on.Load() }

// MarkEnteredSingle marks m, which the caller's commit stores (Put or
// PutNew before or after it), held by this server only when it enters
// the queue with no shadow copy elsewhere: it names no shadow server,
// has recipients pending, and this server makes shadow copies
// (SetShadowCopies) or m wanted one on receipt (NoCopy). A mark m has
// already is kept as it is. It reports whether it marked m.
func (t *Tx) MarkEnteredSingle(m *Message, now time.Time) (bool, error) {
	return t.markEnteredSingle(m, now, m.NoCopy || t.makesCopies())
}

// markEnteredSingle is MarkEnteredSingle with the decision whether a copy
// is wanted made by the caller (a DSN of a message that had a copy is
// marked as its original was).
func (t *Tx) markEnteredSingle(m *Message, now time.Time, wanted bool) (bool, error) {
	if !wanted || m.ShadowServer != "" && m.ShadowID != "" || !needsCopyMarked(m) || t.markedSingle(m.ID) {
		return false, nil
	}
	return true, t.markSingleKind(m.ID, "", now, nil)
}
