package queue

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Ids handed out and never stored.
//
// An id is handed out before its message commits, and often the message
// never does: a message refused at the end of DATA (a milter, a full
// disk, a copy not taken) still named its id in the reply, in its log
// lines and in a tracking event. Ids are microsecond timestamps, so a
// later run whose clock reads what it read then (an NTP step back, a VM
// restored from a snapshot) would hand the same id out again, and one
// message's lines would stand for another's. meta id_high (the highest id
// ever stored) cannot cover an id that was never stored.
//
// So ids are reserved ahead, in commits: meta id_reserved is an id no id
// handed out is above. A new run's ids start above everything the
// database knows (stored, id_high, the last run's reservation), so above
// every id the runs before it can have handed out, stopped or killed -9;
// and Open commits a reservation of its own before anything is served:
// idReserveAhead past the clock or idReserveStep past those ids, whichever
// is later (nextReservation). The reservation is then raised by commits
// that happen anyway: every commit whose ids came within half the step
// of it, or the clock within half the margin, writes a new one
// (reserveInTx). An id
// past the committed reservation (a quiet spell longer than the margin,
// or a clock step forward) makes NewID commit a reservation before it
// returns the id: one fsync after a quiet spell, none while mail flows.
//
// Inside a transaction's function nothing can wait for a commit (the
// function runs in one): Tx.NewID hands the id out unreserved, and the
// commit that runs the function reserves it (reserveInTx runs after the
// functions). If that commit fails the id goes with the transaction —
// which is why a function may show its id to nobody before it commits.
//
// The price: after a restart within the margin of the last reservation,
// ids run ahead of the clock until it catches up, by at most the margin
// plus one step for each such restart in a row before the clock moved a
// step (twelve restarts inside one second: 11.2 s; restarts a step or
// more apart do not add up). Reservations reach the margin past the
// clock and only a step past the ids, so one restart's lead is not
// carried a whole margin further into the next. After a step back of
// the clock ids are ahead by the step. An age read from an id (ID.Age)
// is short by that lead and never negative. A run of a
// release without id_reserved in between neither keeps nor honours it:
// its ids after a clock step back may repeat ids handed out (not stored)
// before it, as every release before this one did.

// idReserveAhead is how far past the ids handed out a reservation
// reaches: ten seconds of microsecond ids.
const idReserveAhead = ID(10 * time.Second / time.Microsecond)

// idReserveStep is how far past the ids handed out a reservation
// reaches when they are ahead of the clock.
const idReserveStep = ID(100 * time.Millisecond / time.Microsecond)

// nextID hands out the next id; covered says whether the committed
// reservation covers it.
func (s *Store) nextID(now time.Time) (id ID, covered bool) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	id = ID(now.UnixMicro())
	s.clockAt = id
	if id <= s.lastID {
		id = s.lastID + 1
	}
	s.lastID = id
	return id, id <= s.reserved
}

// reserveIDs commits a reservation covering every id handed out so far:
// a commit of nothing, which reserveInTx gives its reservation. A failed
// commit leaves the id handed out unreserved: the database cannot be
// written, so its message cannot commit either, and only a restart with
// the clock back where it was would hand it out again.
func (s *Store) reserveIDs() {
	_ = s.Update(context.Background(), func(*Tx) error { return nil })
}

// reserveInTx writes, in a commit's transaction after its functions ran,
// a new reservation when the ids handed out came within half the margin
// of the committed one; it returns what it wrote (0: nothing), for
// reservedCommitted once the commit is durable.
func (s *Store) reserveInTx(btx *bolt.Tx) (ID, error) {
	s.idMu.Lock()
	last, reserved, clock := s.lastID, s.reserved, s.clockAt
	s.idMu.Unlock()
	if last+idReserveStep/2 <= reserved && clock+idReserveAhead/2 <= reserved {
		return 0, nil
	}
	next := s.nextReservation(last, clock)
	meta := btx.Bucket(bucketMeta)
	if v := meta.Get(keyIDReserved); len(v) == 8 && ID(binary.BigEndian.Uint64(v)) >= next {
		return 0, nil
	}
	return next, meta.Put(keyIDReserved, next.Key())
}

// nextReservation is the reservation to commit after the ids up to last,
// the clock reading clock: the margin past the clock, and at least a step
// past the ids. Ids ahead of the clock (a restart within the margin, a
// step back) advance by one per id, so a step covers them until the next
// commit (and an id past it commits one of its own in NewID); a margin
// past them would carry each quick restart's lead into the next.
func (s *Store) nextReservation(last, clock ID) ID {
	return max(clock+idReserveAhead, last+idReserveStep)
}

// reservedCommitted notes a reservation its commit made durable.
func (s *Store) reservedCommitted(r ID) {
	if r == 0 {
		return
	}
	s.idMu.Lock()
	s.reserved = max(s.reserved, r)
	s.idMu.Unlock()
}

// NewID is Store.NewID for a function run in a write transaction: it
// never waits, and the commit that runs the function reserves the id
// (see above). A function that shows the id to anyone (a log line, a
// reply) before its commit returns must use Store.NewID instead, before
// the transaction.
func (t *Tx) NewID(now time.Time) ID {
	id, _ := t.store.nextID(now)
	return id
}
