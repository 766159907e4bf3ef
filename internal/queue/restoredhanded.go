package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"
)

// Copies the database a restored one replaced handed to another
// transport server (restored39).
//
// A shadow server's backup holds the copies it kept for its primaries
// then. Its database, after the backup, may have taken one of them over
// (the primary's heartbeats failed, SR-6) and handed it to another
// transport server X in a shadow session: X holds it as primary under
// the id this server gave it, "<message id>-<hash of X>-<random>"
// (RelayShadowID), and delivers it. Restored from the backup, this
// server holds the copy for the first primary again; that primary's
// heartbeats fail again, and a second takeover delivered it from here
// too. The holders' question of a restored database (takenover.go) goes
// only to the servers keeping copies of its own messages: X keeps none,
// so it was never asked.
//
// So a restored database also asks every transport server of the
// topology (delivery's holders probe, XQUERYTAKENDONE … FROM=<old id>)
// before it may take over a copy it holds for another primary
// (ShadowHeartbeatFailed waits: RestoredAskPending) or send one taken
// over by any other path — a new database or its digest, a rollback
// mark, a copy pushed under a new database, a copy
// expired unconfirmed, or the replaced database's takeover the
// backup holds: the claim keeps such a record of the backup's back
// until the answers or the bound (restoredTakeoverHeld) — and X lists, after
// the lines of version 22, a line "<copy id> RCPT=<address> TAKEN" per
// recipient of each copy this server (under any database) handed it in
// a shadow session that X still holds or finished (HandedHereBy: its
// records named by this server as their shadow server, and its finished
// records of such copies, finished.go). Here, in one commit before the
// probe's next command (ShadowFinishedElsewhere), a line whose copy id
// names a record of this server's (its message id) relayed to X (the
// hash of X's name) settles each recipient of it with that address that
// is still held here — shadowed for another primary, or taken over and
// pending — under another copy: it is X's, and is never taken over,
// delivered or reported here (status Relayed, the reply saying so). A
// recipient this database itself handed to X under that id (shadowed
// for X) is this database's copy of X's, and the line leaves it alone.
//
// Why it is sound: the message id in a relay's copy id is the record's
// id on the server that made the copy, and a restored database keeps
// the ids of the backup's records; the hash names X, so a line of X's
// never names a copy this server made for another server. Only the
// backup's records are settled so (restoredHandedUpTo): one this
// database made after the restore was never its predecessor's, though
// its id may be one the predecessor gave another message (a clock step
// back). X lists only what it delivers itself (deliversHanded): not a
// failure DSN carrying the copy's discard (its recipient is the
// sender), nor a copy held as poison. X holds or
// finished the copy, and owes its sender the recipient (its own shadow
// server, this one, keeps no copy of it any more: the backup's copy was
// for the first primary). A server that cannot be asked (not reached)
// leaves its copies unknown here: the takeover waits for every server
// of the topology at most one takeover bound from the start
// (RestoredAskBound), and then goes ahead — a recipient handed to a
// server not reached in that time goes out twice (README, "What can
// still go twice").
//
// Crash: the settling is one commit before the probe's next command;
// X writes nothing for the lines. A crash of either asks again, and
// telling again finds nothing left to settle.

// TakenHanded is the kind of a FinishedElsewhere for a recipient the
// database this one was restored from handed to the answering server (no
// wire word: it comes as a TAKEN line).
const TakenHanded = 'h'

// handedCopyID reads copy id sid as a relay of one of this server's
// records to server: the record's id, when the hash names server.
func handedCopyID(server, sid string) (ID, bool) {
	parts := strings.Split(sid, "-")
	if len(parts) < 2 || len(parts) > 3 || parts[1] != primaryHash(serverKey(server)) {
		return 0, false
	}
	id, err := ParseID(parts[0])
	if err != nil {
		return 0, false
	}
	return id, true
}

// handedCopyOf returns the record of this server that copy id sid, told
// by server as held there, was relayed from.
func (t *Tx) handedCopyOf(server, sid string) (*Message, bool) {
	id, ok := handedCopyID(server, sid)
	if !ok {
		return nil, false
	}
	if upTo, ok := t.restoredHandedUpTo(); ok && id > upTo {
		return nil, false // this database's own record, not the backup's
	}
	m, err := t.Get(id)
	if err != nil || carriesOthersCopy(m) {
		return nil, false
	}
	return m, true
}

// orZeroKey is k, or the key of id 0 when k is nil (no record).
func orZeroKey(k []byte) []byte {
	if k == nil {
		return ID(0).Key()
	}
	return k
}

// restoredHandedUpTo is the last message id the backup restored here
// held (meta restored_handed, written by the restore's first start and
// kept): every record above it this database made itself, after the
// restore (its ids start above everything the backup knew,
// idreserve.go), and the database it replaced handed none of them on —
// an id it gave a message it handed to another server may be given
// here again after a clock step back. ok false: a database restored by
// a release that did not write it, or never restored.
func (t *Tx) restoredHandedUpTo() (ID, bool) {
	v := t.tx.Bucket(bucketMeta).Get(keyRestoredHanded)
	if len(v) != 8 {
		return 0, false
	}
	return ID(binary.BigEndian.Uint64(v)), true
}

// handedByPredecessor reports whether recipient r, held here, is one
// the TAKEN line for copy sid of server settles: held still (shadowed
// for a primary, or taken over and pending) and not this database's own
// copy of server's under that id.
func handedByPredecessor(r *Recipient, server, sid, addr string) bool {
	if rcptKey(r.Addr) != rcptKey(addr) {
		return false
	}
	if r.Status != Shadowed && r.Status != Pending {
		return false
	}
	return !(sameServer(r.Primary, server) && r.ShadowID == sid)
}

// handedByPredecessorPending reports whether the notes for copy sid of
// server would settle a recipient of m (a record in delivery: kept).
func handedByPredecessorPending(m *Message, server, sid string, notes []TakenDone) bool {
	for _, n := range notes {
		if n.Kind != TakenOver {
			continue
		}
		for i := range m.Rcpts {
			if handedByPredecessor(&m.Rcpts[i], server, sid, n.Addr) {
				return true
			}
		}
	}
	return false
}

// settleHandedByPredecessor marks the recipients of m the notes for copy
// sid of server settle as that server's, and returns their indexes.
func settleHandedByPredecessor(m *Message, server, sid string, notes []TakenDone) []int {
	var out []int
	for _, n := range notes {
		if n.Kind != TakenOver {
			continue
		}
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			if !handedByPredecessor(r, server, sid, n.Addr) {
				continue
			}
			r.Status, r.NextHop = Relayed, ""
			r.LastReply = "250 2.0.0 " + handedByPredecessorText(server)
			out = append(out, i)
		}
	}
	return out
}

// noteHandedForPrimary notes, for the primary of the copy r was held
// under and under that primary's database as this holder knows it
// (primaryMark), that r was relayed elsewhere (TakenRelayed): a copy the
// replaced database took over and handed on, which the primary, coming
// back with its database, asks this holder about (TakenDoneFor). Without
// it the primary, told nothing and finding this holder's new database
// id, delivered its original too (rt39 shadow3 F1) — the note the
// replaced database's own takeover and hand-off wrote went with it. A
// recipient of no primary (this database's own) or of a primary whose
// database is not known here gets none.
func (t *Tx) noteHandedForPrimary(r *Recipient, now time.Time) error {
	if r.Primary == "" || r.ShadowID == "" {
		return nil
	}
	_, db := t.primaryMark(r.Primary)
	b := t.tx.Bucket(bucketTakenDone)
	if db == "" || b == nil {
		return nil
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(nanos(now)))
	return b.Put(takenDoneKey(db, r.ShadowID, r.Addr), takenDoneValue(ts[:], TakenRelayed, r.Addr))
}

// handedByPredecessorText says why such a recipient is done here.
func handedByPredecessorText(server string) string {
	return "handed to " + server + " by the database this one was restored from; " + server + " owns it: not taken over or sent from this server"
}

// deliversHanded reports whether m, a record naming a copy the asking
// server handed here, is one this server delivers the recipients of: not
// a failure DSN that carries the copy's discard (its recipient is the
// original's sender, not one of the copy's: carriesOthersCopy), and not
// one held as poison (delivered here only if the operator resumes it;
// its body may be unreadable, and it is given back to the holder: the
// restored holder's copy is the sound one). Either listed, the restored
// holder settled a recipient that nobody delivers.
func deliversHanded(m *Message) bool {
	return !carriesOthersCopy(m) && m.State != Poison
}

// restoredAsk is the wait of a restored database's first takeover for
// the answers of every transport server (RestoredAskPending).
type restoredAsk struct {
	mu sync.Mutex
	// until: the bound on the monotonic clock (Manager.mono), so that a
	// step of the wall clock neither lengthens nor shortens the wait;
	// set false: no wait (SetRestoredAskBound).
	until time.Duration
	set   bool
	asked bool // every server answered (RestoredAsked)
	// held: the records a claim kept back until the bound
	// (restoredTakeoverHeld), made due again when the answers are in.
	held map[ID]struct{}
}

// restoredTakeoverHeld reports whether m, due in the claim's commit tx,
// waits for the answers (RestoredAskPending) and until when: a record of
// the backup (restoredHandedUpTo) with a recipient taken over from
// another primary — by failed heartbeats, a new database, a rollback
// mark or a copy pushed under a new database alike, here or by the replaced database before the backup — which a
// TAKEN line may yet settle as the server's the replaced database handed
// it to. The record is noted under the lock the answers' end takes, so
// that RestoredAsked makes it due again after this commit.
func (q *Manager) restoredTakeoverHeld(tx *Tx, m *Message) (time.Time, bool) {
	// In any queue: a taken-over recipient an attempt held in its
	// route's queue (a suspended queue, resumed since) is settled by a
	// TAKEN line as one in the shadow queue is (settleHandedByPredecessor);
	// only the latter was kept back, and the former was delivered here
	// and by the server the replaced database handed it to
	// (finalshadow40).
	if !slices.ContainsFunc(m.Rcpts, func(r Recipient) bool {
		return r.Status == Pending && r.Primary != "" && r.ShadowID != ""
	}) {
		return time.Time{}, false
	}
	q.restoredAsk.mu.Lock()
	defer q.restoredAsk.mu.Unlock()
	left := q.restoredAskLeft()
	if left <= 0 {
		return time.Time{}, false // no wait: no meta read in the claim's commit
	}
	if upTo, ok := tx.restoredHandedUpTo(); !ok || m.ID > upTo {
		return time.Time{}, false
	}
	if q.restoredAsk.held == nil {
		q.restoredAsk.held = map[ID]struct{}{}
	}
	q.restoredAsk.held[m.ID] = struct{}{}
	// The bound on the wall clock as it reads now: a step of it before
	// this claim is not carried into the next attempt, and one after is
	// followed by the stored times (followClockStep).
	return q.clk.Now().Add(left), true
}

// restoredAskLeft is how much of the wait is left (under
// restoredAsk.mu): 0 when none was set, every server answered or the
// bound passed.
func (q *Manager) restoredAskLeft() time.Duration {
	if q.restoredAsk.asked || !q.restoredAsk.set {
		return 0
	}
	return max(q.restoredAsk.until-q.mono(), 0)
}

// releaseRestoredHeld makes the records a claim kept back for the
// answers due now (their NextAttempt was the bound): the answers are in.
// A record settled meanwhile (a TAKEN line) has nothing left to send.
func (q *Manager) releaseRestoredHeld(ids []ID) {
	if len(ids) == 0 {
		return
	}
	now := q.clk.Now()
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			m, err := tx.Get(id)
			if err != nil {
				continue // gone, or damaged: nothing to make due
			}
			if m.State != Ready || !m.NextAttempt.After(now) {
				continue
			}
			m.NextAttempt = now
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.log.Error("making the taken-over copies kept back for the transport servers' answers due failed; they go out at the bound",
			"messages", len(ids), "err", err)
	}
	q.Kick()
}

// SetRestoredAskBound starts, for a database restored from a backup
// (Predecessor), the wait of its takeovers of copies held for other
// primaries: until every transport server of the topology (servers,
// this one left out) answered the question about the predecessor's
// copies (RestoredAsked), at most d from now (the takeover bound,
// timeout × retries: a server not reached by then is not waited for).
// Nothing for a database never restored, nor when each of servers
// answered at an earlier start (RestoredUnanswered).
func (q *Manager) SetRestoredAskBound(d time.Duration, servers []string) {
	if q.Predecessor() == "" || d <= 0 || len(q.RestoredUnanswered(servers)) == 0 {
		return
	}
	q.restoredAsk.mu.Lock()
	q.restoredAsk.until, q.restoredAsk.set = q.mono()+d, true
	q.restoredAsk.mu.Unlock()
}

// RestoredAsked ends the wait: every transport server of the topology
// answered the question about the predecessor's copies, and what they
// said is settled here.
func (q *Manager) RestoredAsked() {
	q.restoredAsk.mu.Lock()
	if !q.restoredAsk.asked && q.restoredAsk.set {
		q.log.Info("every transport server told which copies the database this one was restored from handed to it: takeovers go ahead")
	}
	q.restoredAsk.asked = true
	var ids []ID
	for id := range q.restoredAsk.held {
		ids = append(ids, id)
	}
	q.restoredAsk.held = nil
	q.restoredAsk.mu.Unlock()
	q.releaseRestoredHeld(ids)
}

// RestoredAskPending reports whether a takeover of copies held for
// another primary waits for the answers (SetRestoredAskBound).
func (q *Manager) RestoredAskPending() bool {
	q.restoredAsk.mu.Lock()
	defer q.restoredAsk.mu.Unlock()
	return q.restoredAskLeft() > 0
}

// HandedHereBy lists, for server (the transport server a session is
// authenticated as, asking as a database restored from a backup), up
// to max recipients "<copy id> RCPT=<address> TAKEN" of the copies it
// handed here in a shadow session — its relays, "<id>-<hash>…" — that
// this server holds pending (in delivery or not) or finished
// (finished.go: delivered, relayed, failed with its DSN, or handed on):
// this side owns them. Not a failure DSN carrying such a copy's discard,
// queued or finished, nor a copy held as poison (deliversHanded). after is where the last call ended ("" the
// start); next is where this one did ("" nothing more). A read-only walk
// over the queue and the finished records (no writer waits for it),
// asked only by a restored server's probe.
func (q *Manager) HandedHereBy(server, after string, max int) (out []TakenDone, next string) {
	server = serverKey(server)
	if server == "" || max <= 0 {
		return nil, ""
	}
	relay := func(sid string) bool {
		hexID, _, ok := strings.Cut(sid, "-")
		if !ok {
			return false
		}
		_, err := ParseID(hexID)
		return err == nil
	}
	_ = q.store.View(func(tx *Tx) error {
		from, key := "m", []byte(nil)
		if a, k, ok := strings.Cut(after, ":"); ok && (a == "m" || a == "f") {
			from, key = a, []byte(k)
		}
		if from == "m" {
			c := tx.tx.Bucket(bucketMessages).Cursor()
			k, v := c.First()
			if key != nil {
				if k, v = c.Seek(key); k != nil && bytes.Equal(k, key) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				m, err := decodeMessage(v)
				if err != nil || !sameServer(m.ShadowServer, server) || !relay(m.ShadowID) || !deliversHanded(m) {
					continue
				}
				var these []TakenDone
				for _, r := range m.Rcpts {
					if r.Status == Pending || r.Status == Shadowed { // held, or handed on from here
						these = append(these, TakenDone{ID: m.ShadowID, Addr: r.Addr, Kind: TakenOver})
					}
				}
				if len(these) == 0 {
					continue
				}
				if len(out)+len(these) > max && len(out) > 0 {
					return nil // this record whole in the next call
				}
				out = append(out, these...)
				next = "m:" + string(k)
			}
			from, key = "f", nil
		}
		b := tx.tx.Bucket(bucketFinished)
		if b == nil {
			next = ""
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if key != nil {
			if k, v = c.Seek(key); k != nil && bytes.Equal(k, key) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(out) >= max {
				return nil
			}
			if len(v) < 9 || v[8]&finishedExact == 0 || v[8]&finishedCarrier != 0 {
				continue
			}
			srv, sid, ok := strings.Cut(string(v[9:]), "\x00")
			_, addr, ok2 := strings.Cut(string(k), "\x00")
			if !ok || !ok2 || !sameServer(srv, server) || !relay(sid) || addr == "" {
				continue
			}
			out = append(out, TakenDone{ID: sid, Addr: addr, Kind: TakenOver})
			next = "f:" + string(k)
		}
		next = ""
		return nil
	})
	return out, next
}

// RestoredAnsweredBy records that server answered the restored
// database's question about its predecessor's copies whole, every line
// applied (meta restored_answered, a commit after the ones that settled
// them): later starts ask it no more, and once every transport server
// of the topology answered, they neither ask nor wait
// (RestoredUnanswered). A crash before this commit asks the server
// again, and its answer finds nothing left to settle; the record never
// stands for an answer not applied. Cleared by the first start of a
// database restored again (Open).
func (q *Manager) RestoredAnsweredBy(server string) error {
	key := serverKey(server)
	if key == "" || q.Predecessor() == "" || len(q.RestoredUnanswered([]string{key})) == 0 {
		return nil
	}
	return q.store.Update(context.Background(), func(tx *Tx) error {
		meta := tx.tx.Bucket(bucketMeta)
		names := restoredAnsweredNames(meta.Get(keyRestoredAnswered))
		if slices.Contains(names, key) {
			return nil
		}
		return meta.Put(keyRestoredAnswered, []byte(strings.Join(append(names, key), "\n")))
	})
}

// RestoredUnanswered returns those of servers no answer of which is
// recorded (RestoredAnsweredBy); all of them for a database whose
// record cannot be read.
func (q *Manager) RestoredUnanswered(servers []string) []string {
	var names []string
	_ = q.store.View(func(tx *Tx) error {
		names = restoredAnsweredNames(tx.tx.Bucket(bucketMeta).Get(keyRestoredAnswered))
		return nil
	})
	var out []string
	for _, n := range servers {
		if !slices.Contains(names, serverKey(n)) {
			out = append(out, n)
		}
	}
	return out
}

// restoredAnsweredNames reads meta restored_answered: server keys, one
// a line.
func restoredAnsweredNames(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	return strings.Split(string(v), "\n")
}
