package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/orgid"
)

// Tx is a transaction on the transport database. Its helpers keep the
// indexes (schedule, active) consistent with the message records: a
// caller changes a Message and Puts it, and the indexes follow.
type Tx struct {
	tx                                 *bolt.Tx
	messages, bodies, schedule, active *bolt.Bucket
	qidx                               *bolt.Bucket // the queues bucket

	// presenting is the transport database id the session whose
	// discards this transaction applies presented ("" none): a taken-over
	// copy made under another id is not settled by them (takenUnderOther).
	presenting string
	// heldOnly: the discards this transaction applies are a primary's
	// answer to XQUERYHELD, which settles no taken-over recipient
	// (ShadowHeldDone).
	heldOnly bool
	// discardAt is the rollback mark presented with the discards this
	// transaction applies (zero: none): an early discard among them is
	// kept under it (AddEarlyDiscard).
	discardAt DiscardMark
	// withdrawn are the taken-over copies whose jobs the writer took
	// out of the scheduler's queues before this transaction, every one
	// of them only waiting for a slot (withdrawTakenWaiting): a
	// give-back in it treats them as Ready (giveBackTx).
	withdrawn map[ID]bool

	spoolDir string   // the store's spool directory (spoolref.go)
	unlink   []string // spool files whose last reference this transaction dropped

	forgotten []forgottenDB // retired database ids the bound forgot (retiredbound.go), logged after the commit

	// forgotNotes are the discard notifications this transaction's
	// forgettings deleted, with the value each held (noteStamp).
	forgotNotes map[forgetKey][]byte

	// settledEarly are the discards kept aside that this transaction
	// applied (applyEarlyDiscards): tracked after the commit
	// (earlydiscardevent.go), unless the writer claimed them to track
	// them itself (claimSettledEarly).
	settledEarly []settledEarly

	// staleEarly are the discards kept aside that this transaction
	// judged stale and forgot, keeping the copy pushed after them
	// (takeEarlyForPush): logged, tracked and counted after the commit
	// by the writer that pushed the copy (staleearly.go).
	staleEarly []staleEarly

	// released are the failure DSNs whose holder this transaction named
	// and the servers their partial discards were written for
	// (nameCopyHolder, dsnheld.go): tracked and signalled after the
	// commit (Manager.afterReleased), as a DSN's leaving is.
	released []releasedDSN

	// marked are the messages this transaction made held by this server
	// only (putMark: a mark that counts where none did): tracked after
	// the commit (singleevent.go).
	marked []ID

	// deleted are the message records this transaction deleted: what the
	// manager keeps in memory of them goes after the commit
	// (Store.forgetDeleted).
	deleted []ID

	// owedTo are the shadow servers this transaction wrote a notification
	// for (a discard, a partial discard or delay note, a hand-back):
	// their waiting long polls are woken after the commit (owedsignal.go).
	owedTo []string

	store *Store // the store whose commit runs this transaction (Tx.NewID); nil outside one

	// quarN and quarBytes are the quarantined messages this transaction
	// stored, and their bytes (roomInTx): the quarantine's bound counts
	// them before the commit adds them to its totals.
	quarN     int
	quarBytes int64
	// quarLeft holds the records this transaction took out of the
	// quarantine (Put of another state, Delete), whatever the writer,
	// and did not put back; quarNew counts the new records it stored
	// quarantined (roomInTx counted quarN of them); quarHook says the
	// commit tells the manager (quarantineMoved).
	quarLeft  map[ID]bool
	quarNew   int
	quarStale bool // a change roomInTx did not count (quarantineMoved)
	quarHook  bool
	// quarDN and quarDB are what this transaction changed in the
	// quarantine's totals, messages and bytes (Manager.quarantineCounted).
	quarDN int
	quarDB int64

	// decoded counts the message records this transaction read (Get,
	// ForEach): what a test proves a lookup reads (shadowidindex.go).
	decoded int
}

// wrap is wrapTx for a transaction of s: it can name spool files.
func (s *Store) wrap(btx *bolt.Tx) *Tx {
	t := wrapTx(btx)
	t.spoolDir = s.spoolDir
	t.store = s
	return t
}

func wrapTx(btx *bolt.Tx) *Tx {
	return &Tx{
		tx:       btx,
		messages: btx.Bucket(bucketMessages),
		bodies:   btx.Bucket(bucketBodies),
		schedule: btx.Bucket(bucketSchedule),
		active:   btx.Bucket(bucketActive),
		qidx:     btx.Bucket(bucketQueues),
	}
}

// Get returns a copy of the message record, or ErrNotFound.
func (t *Tx) Get(id ID) (*Message, error) {
	v := t.messages.Get(id.Key())
	if v == nil {
		return nil, ErrNotFound
	}
	t.decoded++
	m, err := decodeMessage(v)
	t.readReceived(m) // received.go
	return m, err
}

// Body returns a copy of the message's bytes, the whole content in
// memory: a spooled body's file is read. Delivery streams with BodyOf.
func (t *Tx) Body(id ID) ([]byte, error) {
	b, err := t.BodyOf(id)
	if err != nil {
		return nil, err
	}
	return b.Bytes()
}

// Put writes m and moves its index entries to match its state: a Ready
// message is in the schedule at NextAttempt, an Active one in the active
// index, others in neither.
func (t *Tx) Put(m *Message) error {
	if m.State == Damaged {
		return fmt.Errorf("message %s: %w: it is not written back", m.ID, ErrDamagedRecord)
	}
	if (m.State == Quarantined) != (m.Quarantine != "") {
		// The record would not decode (record.go): refuse the commit.
		return fmt.Errorf("message %s: state %s with quarantine reason %q", m.ID, m.State, m.Quarantine)
	}
	foldRecordPrimaries(m) // one spelling of each primary (primaryfold.go)
	old, err := t.Get(m.ID)
	if err == nil {
		if err := t.unindex(old); err != nil {
			return err
		}
	} else if err != ErrNotFound {
		return err
	} else {
		old = nil
	}
	if err := t.messages.Put(m.ID.Key(), m.encode()); err != nil {
		return err
	}
	t.quarantineMoved(old, m)
	if err := t.indexTaken(old, m); err != nil { // takenindex.go
		return err
	}
	if err := t.indexShadowID(old, m); err != nil { // shadowidindex.go
		return err
	}
	if err := t.markTakenOver(old, m); err != nil { // takensingle.go
		return err
	}
	if err := t.settleCarriedRcpts(m); err != nil { // carried.go: each carried recipient it finished
		return err
	}
	if err := t.noteHeld(old, m); err != nil { // heldage.go: when a hold of the message began
		return err
	}
	if err := t.putReceived(m); err != nil { // received.go: the receipt a release did not move
		return err
	}
	if m.OrgID != "" {
		if err := t.tx.Bucket(bucketOrgIDs).Put(orgKey(m.OrgID, m.ID), nil); err != nil {
			return err
		}
	}
	for _, q := range QueuesOf(m) {
		if err := t.qidx.Put(queueKey(q, m.ID), []byte{byte(m.State)}); err != nil {
			return err
		}
	}
	switch m.State {
	case Ready:
		return t.schedule.Put(scheduleKey(m.NextAttempt, m.ID), nil)
	case Active:
		return t.active.Put(m.ID.Key(), nil)
	}
	return nil
}

// ErrNoRecipients refuses a new message without recipients: it could
// never be delivered, only expire.
var ErrNoRecipients = errors.New("message has no recipients")

// PutNew writes a message that is not yet in the database, with its body.
// Every new message (received, picked up, a DSN) comes through here. A
// message without an organisation message id is new to the organisation
// (a DSN, a pickup file, a submission): it gets one here.
func (t *Tx) PutNew(m *Message, body []byte) error {
	if len(m.Rcpts) == 0 {
		return ErrNoRecipients
	}
	if m.OrgID == "" {
		m.OrgID = orgid.New()
	}
	if err := t.raiseIDHigh(m.ID); err != nil {
		return err
	}
	if err := putBodyValue(t.bodies, refMessage, m.ID.Key(), body); err != nil { // bodyalone.go
		return fmt.Errorf("storing the body (%d bytes) of message %s: %w", len(body), m.ID, err)
	}
	// Its checksum is in this commit (bodysum.go): the record says so,
	// so that its loss is not taken for an older release's body.
	m.BodySummed = t.tx.Bucket(bucketBodySums) != nil
	if m.ShadowServer != "" {
		// A copy on that server now backs this message: its rollback
		// mark grows (marks.go).
		n, err := t.bumpHolderMark(m.ShadowServer)
		if err != nil {
			return err
		}
		m.HolderMark = n
	}
	return t.Put(m)
}

// raiseIDHigh keeps in meta the highest message id ever stored, in the
// commit that stores it: Open starts NewID above it, so an id is never
// handed out twice by one database, whatever the clock did between two
// runs and whether the message is still here (Store.NewID).
func (t *Tx) raiseIDHigh(id ID) error {
	meta := t.tx.Bucket(bucketMeta)
	if v := meta.Get(keyIDHigh); len(v) == 8 && ID(binary.BigEndian.Uint64(v)) >= id {
		return nil
	}
	return meta.Put(keyIDHigh, id.Key())
}

// Delete removes a message, its body and its index entries, and settles
// what the copies of it elsewhere are owed that the record alone does
// not name (settleSingleMark, settleCarried). Its own copy
// (ShadowServer, ShadowID) is its caller's to settle (addCopyDiscard):
// a give-back hands the message to that holder.
func (t *Tx) Delete(id ID) error {
	old, err := t.Get(id)
	if err == ErrNotFound {
		return nil
	}
	t.deleted = append(t.deleted, id)
	if err != nil {
		// A record that cannot be decoded is still removed whole.
		_ = t.active.Delete(id.Key())
		if err := t.dropTakenOf(id); err != nil {
			return err
		}
	} else if err := t.unindex(old); err != nil {
		return err
	} else if err := t.unindexTaken(old, id, nil, nil); err != nil {
		return err
	} else if err := t.unindexShadowID(old); err != nil { // shadowidindex.go
		return err
	}
	if err == nil {
		t.quarantineMoved(old, nil)
	}
	if err := t.dropRef(refMessage, id.Key()); err != nil { // spoolref.go
		return err
	}
	if err := t.forgetHeld(id); err != nil { // heldage.go
		return err
	}
	if err := t.forgetReceived(id); err != nil { // received.go
		return err
	}
	if err := deleteBodyValue(t.bodies, refMessage, id.Key()); err != nil {
		return err
	}
	if b := t.tx.Bucket(bucketRedeliver); b != nil { // absent in a database opened for a restore check
		if err := b.Delete(id.Key()); err != nil {
			return err
		}
	}
	// Its mark as held by this server only goes, and every server the
	// mark names as one that may hold a copy — pushed without
	// confirmation, or made again while in delivery — is owed its
	// discard in this commit, whoever deletes (takensingle.go): an
	// attempt's end, an operator's removal or bounce, a discard. Without
	// it that server keeps the copy and takes it over — a delivery of
	// mail this server ended — when this server fails.
	if old != nil {
		if err := t.settleSingleMark(old, t.now()); err != nil {
			return err
		}
	} else if err := t.dropMark(id.Key()); err != nil { // holders.go
		return err
	}
	if err := t.dropPushing(id); err != nil { // pushcrash.go
		return err
	}
	if err := t.dropReported(id); err != nil { // reportedcopy.go
		return err
	}
	if err := t.dropTakenBusy(id); err != nil { // takenbusy.go: kept back no more
		return err
	}
	if err := t.notePickupEnd(old); err != nil { // pickupfate.go: its file may go
		return err
	}
	if err := t.messages.Delete(id.Key()); err != nil {
		return err
	}
	orgID := ""
	if old != nil {
		orgID = old.OrgID
	}
	if err := t.dropMergedRcpts(id); err != nil { // carried.go: only at the end, never at a hold
		return err
	}
	return t.settleCarried(id, orgID, t.now()) // the manager's clock (takensingle.go); the copies it carried are owed their discard (carried.go)
}

func (t *Tx) unindex(m *Message) error {
	if m.OrgID != "" {
		if err := t.tx.Bucket(bucketOrgIDs).Delete(orgKey(m.OrgID, m.ID)); err != nil {
			return err
		}
	}
	for _, q := range QueuesOf(m) {
		if err := t.qidx.Delete(queueKey(q, m.ID)); err != nil {
			return err
		}
	}
	switch m.State {
	case Ready:
		return t.schedule.Delete(scheduleKey(m.NextAttempt, m.ID))
	case Active:
		return t.active.Delete(m.ID.Key())
	}
	return nil
}

// Due returns up to limit ids whose scheduled time is not after now, in
// time order.
func (t *Tx) Due(now time.Time, limit int) []ID {
	var ids []ID
	c := t.schedule.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		due, id, ok := parseScheduleKey(k)
		if !ok || due.After(now) {
			break
		}
		ids = append(ids, id)
	}
	return ids
}

// NextDue returns the earliest scheduled time, or false when the
// schedule is empty.
func (t *Tx) NextDue() (time.Time, bool) {
	k, _ := t.schedule.Cursor().First()
	due, _, ok := parseScheduleKey(k)
	return due, ok
}

// ActiveIDs lists the messages in the active index.
func (t *Tx) ActiveIDs() []ID {
	var ids []ID
	_ = t.active.ForEach(func(k, _ []byte) error {
		if len(k) == 8 {
			ids = append(ids, ID(beUint64(k)))
		}
		return nil
	})
	return ids
}

// ForEach calls fn for every message in id (arrival) order until fn
// returns false. Undecodable records are passed as errors.
func (t *Tx) ForEach(fn func(m *Message, err error) bool) {
	c := t.messages.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		t.decoded++
		m, err := decodeMessage(v)
		if err == nil && len(k) == 8 && m.ID != ID(beUint64(k)) {
			err = errCorrupt
		}
		if err == nil {
			t.readReceived(m) // received.go
		}
		if !fn(m, err) {
			return
		}
	}
}

// QueueStats describes one per-next-hop queue.
type QueueStats struct {
	Name    string
	Count   int
	ByState map[State]int
	Oldest  ID // the first message to arrive that is still in the queue
	// OldestWaiting: the first message to arrive that is still in the
	// queue and not suspended by itself (the queue gauges' oldest age:
	// a suspended message waits for the operator, not for delivery);
	// 0 when none is.
	OldestWaiting ID
	// Retry counts, of the ByState[Ready] messages, those waiting for a
	// retry after a deferral (DisplayState "retry"); set by WaitingRetry,
	// not by Queues, which reads the index alone.
	Retry int
	// Waiting counts, of the ByState[Active] messages, those whose jobs
	// in this queue all wait for a slot of its destination (none runs
	// here): "waiting", as queue list and message list show them
	// (Store.QueueStats sets it from the scheduler's jobs).
	Waiting int
}

// Queues summarises every queue from the queue index alone, without
// reading a message record: its cost grows with the number of index
// keys, not with message sizes.
func (t *Tx) Queues() []QueueStats {
	var out []QueueStats
	c := t.qidx.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		name, id, ok := parseQueueKey(k)
		if !ok || len(v) != 1 {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, QueueStats{Name: name, ByState: map[State]int{}, Oldest: id})
		}
		q := &out[len(out)-1]
		q.Count++
		q.ByState[State(v[0])]++
		if q.OldestWaiting == 0 && State(v[0]) != Suspended {
			q.OldestWaiting = id
		}
	}
	return out
}

// InQueue lists the ids of the messages in a queue, oldest first.
func (t *Tx) InQueue(name string, limit int) []ID { return t.inQueue(name, nil, limit) }

// InQueueIn is InQueue for the messages in state st only (the index
// holds each entry's state): up to limit of them, however many in other
// states come before.
func (t *Tx) InQueueIn(name string, st State, limit int) []ID { return t.inQueue(name, &st, limit) }

// inQueue walks queue name's index, oldest first: up to limit ids, of
// the messages in state *st only when st is set.
func (t *Tx) inQueue(name string, st *State, limit int) []ID {
	var ids []ID
	if limit <= 0 {
		return nil
	}
	t.walkQueue(name, 0, func(id ID, s State, known bool) bool {
		if st == nil || known && s == *st {
			ids = append(ids, id)
		}
		return len(ids) < limit
	})
	return ids
}

// walkQueue calls fn with each id of queue name's index from id from on,
// in id order, and the state its entry holds (known false: an entry an
// earlier release wrote holds none), until fn returns false. Only the
// entries walked are read.
func (t *Tx) walkQueue(name string, from ID, fn func(id ID, st State, known bool) bool) {
	walkQueueIndex(t.qidx, []byte(name+"\x00"), queueKey(name, from), func(n string, id ID, st State, known bool) bool {
		return n != name || fn(id, st, known)
	})
}

// walkQueueIndex is the one walk of the queue index bucket qidx: fn is
// called with the queue, id and state (known: as walkQueue) of each
// entry whose key starts with prefix, in key order from key seek on,
// until it returns false. walkQueue walks one queue so; a caller that
// holds the bucket only (the open's rewrite, redirectname.go) or walks
// every queue of a kind ("shadow:", endRestored) calls it directly.
func walkQueueIndex(qidx *bolt.Bucket, prefix, seek []byte, fn func(name string, id ID, st State, known bool) bool) {
	c := qidx.Cursor()
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		n, id, ok := parseQueueKey(k)
		if !ok {
			continue
		}
		var st State
		if len(v) == 1 {
			st = State(v[0])
		}
		if !fn(n, id, st, len(v) == 1) {
			return
		}
	}
}

// readyRetryFields calls fn with the retryFields of every Ready message
// of queue name, oldest first; a record that does not decode, or is not
// Ready itself, is skipped.
func (t *Tx) readyRetryFields(name string, fn func(ID, retryFields)) {
	t.walkQueue(name, 0, func(id ID, st State, known bool) bool {
		if !known || st != Ready {
			return true
		}
		if f, ok := peekRetryFields(t.messages.Get(id.Key())); ok && f.state == Ready { // the record's state, as Get reads it
			fn(id, f)
		}
		return true
	})
}

// SetSuspended records whether the operator suspended a queue.
func (t *Tx) SetSuspended(queue string, on bool) error {
	b := t.tx.Bucket(bucketSuspended)
	if on {
		return b.Put([]byte(queue), nil)
	}
	return b.Delete([]byte(queue))
}

// IsSuspended reports whether the operator suspended a queue, as this
// transaction sees it.
func (t *Tx) IsSuspended(queue string) bool {
	// Its value is empty: the key's presence is the mark (a Get could
	// not tell an empty value from none).
	k, _ := t.tx.Bucket(bucketSuspended).Cursor().Seek([]byte(queue))
	return k != nil && string(k) == queue
}

// anyResumed reports whether a queue of queues, each of which an attempt
// found suspended, is no longer suspended in this transaction: the
// message held in it must not wait for the hold's recheck.
func (t *Tx) anyResumed(queues []string) bool {
	for _, name := range queues {
		if !t.IsSuspended(name) {
			return true
		}
	}
	return false
}

// Suspended lists the suspended queues.
func (t *Tx) Suspended() []string {
	var out []string
	_ = t.tx.Bucket(bucketSuspended).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// discardKey is the key of a discard owed to server (or, in bucket
// early, sent by primary server): its name folded (holderfold.go).
func discardKey(server, id string) []byte {
	return append(append([]byte(serverKey(server)), 0), id...)
}

// AddDiscard records that the shadow server may discard its copy id. The
// copy's partial discards not fetched yet go: this one settles all of it.
func (t *Tx) AddDiscard(server, id string, now time.Time) error {
	if err := t.dropPartialDiscards(server, id); err != nil {
		return err
	}
	b := t.tx.Bucket(bucketDiscards)
	k := discardKey(server, id)
	t.noteOwed(server)
	return b.Put(k, t.noteStamp(false, k, b.Get(k), now))
}

// noteStamp is the value of the discard notification under key (in the
// partial bucket or not) written at now over the one the entry holds
// (old; nil: none): the time, but later than the value it replaces, and
// than the value a forgetting deleted from that entry earlier in this
// transaction (forgotNote). The forgetting of a sent notification
// deletes the entry only while it holds the value that was sent, and
// hides it from what is owed until that commit is done (forgetsent.go);
// a notification owed anew under the same key must never be written
// with the value sent — which a write within one tick of the clock, or
// one in the very transaction whose forgetting deleted the entry first,
// would do, and the new one would be forgotten, or hidden, unsent.
func (t *Tx) noteStamp(partial bool, key, old []byte, now time.Time) []byte {
	n := nanos(now)
	later := func(v []byte) {
		if len(v) == 8 {
			if prev := int64(binary.BigEndian.Uint64(v)); prev >= n && prev < math.MaxInt64 {
				n = prev + 1
			}
		}
	}
	later(old)
	later(t.forgotNotes[forgetKey{partial, string(key)}])
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return v[:]
}

// forgotNote records that this transaction deleted the notification
// entry key holding val (a forgetting: forgetsent.go), for noteStamp.
func (t *Tx) forgotNote(partial bool, key, val []byte) {
	if t.forgotNotes == nil {
		t.forgotNotes = map[forgetKey][]byte{}
	}
	t.forgotNotes[forgetKey{partial, string(key)}] = bytes.Clone(val)
}

// Discards lists up to max notifications owed to server.
func (t *Tx) Discards(server string, max int) []string {
	var out []string
	prefix := append([]byte(serverKey(server)), 0)
	c := t.tx.Bucket(bucketDiscards).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// DeleteDiscards forgets notifications that were delivered.
func (t *Tx) DeleteDiscards(server string, ids []string) error {
	b := t.tx.Bucket(bucketDiscards)
	for _, id := range ids {
		if err := b.Delete(discardKey(server, id)); err != nil {
			return err
		}
	}
	return nil
}

// PruneDiscards deletes up to limit notifications prepared before cutoff
// (their shadow server never came to fetch them), and early discards as
// old, and returns how many.
func (t *Tx) PruneDiscards(cutoff time.Time, limit int) (int, error) {
	n, err := t.prune(bucketEarly, cutoff, limit)
	if err != nil {
		return 0, err
	}
	k, err := t.prune(bucketDiscards, cutoff, limit)
	if err != nil {
		return 0, err
	}
	p, err := t.prune(bucketPartial, cutoff, limit)
	return n + k + p, err
}

func (t *Tx) prune(bucket []byte, cutoff time.Time, limit int) (int, error) {
	b := t.tx.Bucket(bucket)
	var stale [][]byte
	_ = b.ForEach(func(k, v []byte) error {
		// The time is the first 8 bytes (an early discard's mark and
		// database id follow it: AddEarlyDiscard).
		if len(stale) < limit && len(v) >= 8 && int64(binary.BigEndian.Uint64(v[:8])) < nanos(cutoff) {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// AddEarlyDiscard records a discard for a message still in delivery, or
// for a copy on receipt not stored here yet, with the rollback mark it
// was made under (at: presented with it, and the database id it is of):
// a copy pushed later with a higher mark is a new one, which it must not
// settle (earlystale.go). Not the mark stored for primary: a copy of
// another session, committed at the primary after the discard, may have
// raised that before this commit, and a copy of the same org id
// committed between the two would meet the discard and not be kept
// (earlymark40). A discard presented without a mark (a peer below
// shadow verbs 7, whose copies carry none either) is kept under the
// stored one, as before.
//
// The primary hands a notification again until a session acknowledges
// it, each time under the mark of the reply that lists it: a repeat
// finds the entry kept and keeps the lower mark of the same database —
// the discard was made no later than its first listing, and a copy of
// the same org id committed between the two is a new one.
func (t *Tx) AddEarlyDiscard(primary, id string, at DiscardMark, now time.Time) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	mark, db := t.primaryMark(primary)
	if at.Mark > 0 {
		mark, db = at.Mark, at.DB
		if db == "" {
			db = t.presenting
		}
	}
	b := t.tx.Bucket(bucketEarly)
	k := discardKey(primary, id)
	if old := b.Get(k); len(old) >= 16 {
		if seen := binary.BigEndian.Uint64(old[8:16]); seen > 0 && seen < mark && string(old[16:]) == db {
			mark = seen
		}
	}
	v := make([]byte, 16, 16+len(db))
	binary.BigEndian.PutUint64(v, uint64(nanos(now)))
	binary.BigEndian.PutUint64(v[8:], mark)
	return b.Put(k, append(v, db...))
}

// hasEarlyDiscard reports whether a discard of id by primary is kept
// aside (AddEarlyDiscard).
func (t *Tx) hasEarlyDiscard(primary, id string) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return t.tx.Bucket(bucketEarly).Get(discardKey(primary, id)) != nil
}

// TakeEarlyDiscard reports and forgets an early discard.
func (t *Tx) TakeEarlyDiscard(primary, id string) (bool, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketEarly)
	k := discardKey(primary, id)
	if b.Get(k) == nil {
		return false, nil
	}
	return true, b.Delete(k)
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// ByOrgID returns the ids of the queued messages that carry the
// organisation message id orgID (normally one).
func (t *Tx) ByOrgID(orgID string) []ID {
	if orgID == "" {
		return nil
	}
	var ids []ID
	pre := append([]byte(orgID), 0)
	c := t.tx.Bucket(bucketOrgIDs).Cursor()
	for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		if len(k) == len(pre)+8 {
			ids = append(ids, ID(beUint64(k[len(pre):])))
		}
	}
	return ids
}

// SubmitKey returns the message a keyed submission made, if key was
// submitted before (Manager.SubmitKeyed).
func (t *Tx) SubmitKey(key string) (ID, bool) {
	v := t.tx.Bucket(bucketSubmitKey).Get([]byte(key))
	if len(v) != 16 {
		return 0, false
	}
	return ID(beUint64(v)), true
}

// PutSubmitKey records that key was submitted as message id at now.
func (t *Tx) PutSubmitKey(key string, id ID, now time.Time) error {
	return t.tx.Bucket(bucketSubmitKey).Put([]byte(key), append(id.Key(), putTime(now)...))
}

// PruneSubmitKeys forgets up to limit submission keys recorded before
// cutoff. The pickup ends are not pruned with them: an end is kept as
// long as its file may exist (pickupEndsPruned, pickupfate.go);
// nor is a key that names its pickup file (submitnames): it is kept as
// long as that file may still be there (pickupKeysPruned,
// pickupkeys.go).
func (t *Tx) PruneSubmitKeys(cutoff time.Time, limit int) (int, error) {
	b := t.tx.Bucket(bucketSubmitKey)
	names := t.tx.Bucket(bucketSubmitNames)
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(old) < limit; k, v = c.Next() {
		if names != nil && names.Get(k) != nil {
			continue // the pickup keys' looks decide (pickupkeys.go)
		}
		if len(v) != 16 || getTime(v[8:]).Before(cutoff) {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// quarantineMoved notes what a Put (m the record written) or a Delete
// (m nil) of the record old (nil: none) did to the quarantine. The
// commit then tells the manager over the store (Manager.quarantineOut):
// the records out of the quarantine at the commit that were in it
// before count once each in its OUT/MIN — one taken out and put back in
// the same transaction left nothing — and the quarantine's cached
// totals are recounted when anything changed them that a submission's
// bound check (roomInTx) did not count: a record leaving, one entering
// from another state, a quarantined record's size changed, a new
// quarantined record stored past the ones roomInTx counted. A
// transaction rolled back tells nothing.
func (t *Tx) quarantineMoved(old, m *Message) {
	wasIn := old != nil && old.State == Quarantined
	isIn := m != nil && m.State == Quarantined
	if wasIn {
		t.quarDN--
		t.quarDB -= old.Size
	}
	if isIn {
		t.quarDN++
		t.quarDB += m.Size
	}
	switch {
	case wasIn && !isIn:
		if t.quarLeft == nil {
			t.quarLeft = map[ID]bool{}
		}
		t.quarLeft[old.ID] = true
		t.quarStale = true
	case !wasIn && isIn && old != nil:
		delete(t.quarLeft, m.ID) // back in, or in from another state
		t.quarStale = true
	case !wasIn && isIn:
		t.quarNew++ // a new record: counted if roomInTx counted it (quarN)
	case wasIn && isIn && old.Size != m.Size:
		t.quarStale = true
	default:
		return
	}
	if t.quarHook || t.store == nil {
		return
	}
	t.quarHook = true
	s := t.store
	txid := int(t.tx.ID()) // a write transaction's: the id it commits as
	t.tx.OnCommit(func() {
		q := s.early.Load()
		if q == nil {
			return
		}
		q.quarantineCounted(txid, t.quarDN, t.quarDB) // QuarantineStats's totals
		if t.quarStale || t.quarNew > t.quarN {
			q.quarantineOut(len(t.quarLeft))
		}
	})
}
