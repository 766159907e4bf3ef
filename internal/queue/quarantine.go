package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// The quarantine: mail an edge check kept back (Message.Quarantine, set
// at end of data by the check chain of internal/smtp filter.go). Submit
// stores it in one fsync'd commit like any message — a 250 still means
// durable — but Quarantined: no schedule entry, no active-set slot, only
// the "quarantine" queue entry (QueuesOf), so the scheduler never sees
// it. It leaves by
//   - ReleaseQuarantined: Ready and due now, the reason cleared from the
//     record and kept in tracking (event "release");
//   - DeleteQuarantined: removed, with a failure DSN to the sender only
//     when the operator asks for one;
//   - expiry (pruneQuarantine, hourly): QuarantineExpiration after
//     arrival it is removed, silently unless QuarantineDSN.
//
// Shadow redundancy: a quarantined message is delivered nowhere, so no
// shadow copy of it may be taken over and delivered by another server.
// The commit that quarantines a message received in a shadow session (or
// with a copy on receipt) writes the discard notification for its shadow
// server at once, as an operator's removal does; from then on the
// message exists on this server only, and its release hands it on
// without a shadow (the sender's copy is gone).

// ErrNotQuarantined refuses a quarantine command on a message that is
// not (or no longer) quarantined.
var ErrNotQuarantined = errors.New("message is not quarantined")

// ErrAlreadyReleased answers a release of a message already released.
var ErrAlreadyReleased = errors.New("already released from quarantine")

// maxReleasedKept bounds the ids of released messages remembered.
const maxReleasedKept = 10000

// releasedSet remembers the ids this process released from quarantine
// (the most recent maxReleasedKept), so that a second release says so.
type releasedSet struct {
	mu    sync.Mutex
	ids   map[ID]bool
	order []ID
}

func (r *releasedSet) add(id ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[ID]bool{}
	}
	if r.ids[id] {
		return
	}
	r.ids[id] = true
	r.order = append(r.order, id)
	if len(r.order) > maxReleasedKept {
		delete(r.ids, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *releasedSet) has(id ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

func errQuarantined(id ID) error {
	return fmt.Errorf("message %s is quarantined: release or delete it (umbra queue quarantine)", id)
}

func checkQuarantined(m *Message) error {
	if m.State != Quarantined {
		return fmt.Errorf("%w: message %s is %s", ErrNotQuarantined, m.ID, m.State)
	}
	return nil
}

// quarantineOnSubmit readies a new message with a quarantine reason:
// Quarantined, not scheduled. It reports whether m is quarantined.
func quarantineOnSubmit(m *Message) bool {
	if m.Quarantine == "" {
		return false
	}
	m.Quarantine = boundReason(m.Quarantine)
	m.State, m.NextAttempt = Quarantined, time.Time{}
	return true
}

// MaxQuarantineReason bounds the reason stored with a quarantined
// message: it comes from a check (a milter's free text, even), and is
// written into the record, tracking and every listing.
const MaxQuarantineReason = 512

const reasonCut = " [… cut]"

// boundReason cuts a reason longer than MaxQuarantineReason bytes, on a
// UTF-8 boundary, with a marker that says so.
func boundReason(r string) string {
	if len(r) <= MaxQuarantineReason {
		return r
	}
	n := MaxQuarantineReason - len(reasonCut)
	for n > 0 && !utf8.RuneStart(r[n]) {
		n--
	}
	return r[:n] + reasonCut
}

// QuarantineStats counts the quarantined messages and their bytes (the
// metrics umbra_quarantine_messages and umbra_quarantine_bytes, read at
// every scrape). The totals are kept by the commits that change the
// quarantine (Tx.quarantineMoved, quarantineCounted) over one scan,
// made again at most once per quarCapRecount (a write that went by
// another way than Put and Delete is counted by then): a scrape does
// not read every quarantined record.
func (q *Manager) QuarantineStats() (n int, size int64) {
	st := &q.qstats
	now := q.clk.Now()
	st.mu.Lock()
	if st.valid && now.Sub(st.counted) < quarCapRecount && !now.Before(st.counted) {
		n, size = st.n, st.bytes
		st.mu.Unlock()
		return n, size
	}
	st.scans++
	st.mu.Unlock()
	var at int
	_ = q.store.View(func(tx *Tx) error {
		n, size = quarantineTotals(tx)
		at = int(tx.tx.ID()) // the last commit the scan saw
		return nil
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	// A commit after the scan's whose hook ran already (lastHook)
	// changed the quarantine while the totals were not kept: they cannot
	// be taken as known (the next read scans again). One whose hook
	// runs from now on is counted (quarantineCounted); one the scan saw
	// is not counted twice (base).
	st.valid = st.lastHook <= at
	if st.valid {
		st.base, st.counted, st.n, st.bytes = at, now, n, size
	}
	return n, size
}

// quarantineCounted applies to the kept totals what the commit of write
// transaction txid changed in the quarantine: dn messages and db bytes
// more (fewer when negative). A commit the totals' scan saw (txid at or
// below its base) is in them already.
func (q *Manager) quarantineCounted(txid, dn int, db int64) {
	st := &q.qstats
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastHook = max(st.lastHook, txid)
	if st.valid && txid > st.base {
		st.n += dn
		st.bytes += db
	}
}

// ReleaseQuarantined ends a message's quarantine: it is scheduled at
// once, as a new message would have been; tracking notes the reason it
// was held for.
//
// A message released before answers ErrAlreadyReleased, whether it is
// being delivered now or has left the queue: releasing twice is not an
// error to retry. The record says so across restarts (Released); the
// ids this process released say it of a message that has left (and the
// tracking log, read by the admin API, of one that left before).
func (q *Manager) ReleaseQuarantined(ctx context.Context, id ID) error {
	var released *Message
	var reason string
	single := false
	err := q.store.Update(ctx, func(tx *Tx) error {
		single = false
		m, err := tx.Get(id)
		if err != nil {
			if errors.Is(err, ErrNotFound) && q.released.has(id) {
				return fmt.Errorf("%w: message %s has left the queue", ErrAlreadyReleased, id)
			}
			return err
		}
		if m.State != Quarantined && (m.Released || q.released.has(id)) {
			return fmt.Errorf("%w: message %s is %s", ErrAlreadyReleased, id, m.State)
		}
		if m.State == Active {
			return ErrBusy
		}
		if err := checkQuarantinedIdle(tx, m); err != nil {
			return err
		}
		reason = m.Quarantine
		shared := tx.sharedCopyKept(m) // read before the release changes m
		// The quarantine discarded its shadow copy (submit.go): from
		// the release on it is held by this server only (hold.go).
		if single, err = tx.markReleasedSingle(m, HowQuarantined, q.clk.Now()); err != nil {
			return err
		}
		m.Quarantine, m.Released = "", true
		m.State, m.NextAttempt = Ready, q.clk.Now()
		// A part whose shadow copy its holder keeps for another part
		// still keeps its age: the holder takes that copy over by the
		// copy's own receipt time (sharedCopyKept, split47).
		if !shared {
			m.releasedFromHold(q.clk.Now()) // scheduled as if just received: its age counts from now
		}
		released = m
		return tx.Put(m)
	})
	if err != nil {
		return err
	}
	q.released.add(id)
	now := q.clk.Now()
	q.noteSubmitted(now) // it enters delivery as a new message would
	q.log.Info("message released from quarantine", "msg_id", id.String(), "reason", reason)
	if single {
		q.releasedSingle(released, "release from quarantine")
	}
	q.ev.Event("release", released, nil, "released from quarantine (held for: "+reason+")")
	q.Kick()
	return nil
}

// DeleteQuarantined removes a quarantined message; with dsn the sender
// gets a failure DSN for its recipients (unless NOTIFY=NEVER or the null
// sender). The DSN does not say why the message was held: the reason
// names umbra's checks, which are no business of a possibly forged
// sender.
func (q *Manager) DeleteQuarantined(ctx context.Context, id ID, dsn bool) error {
	return q.removeMessage(ctx, id, dsn, removal{check: checkQuarantinedIdle,
		reply: "550 5.7.1 message held in quarantine and deleted by the administrator of " + q.cfg.Hostname,
		event: "remove", note: "deleted from quarantine by the administrator"})
}

// noteQuarantine counts a message entering the quarantine in its
// IN/MIN (umbra queue list). Leaving is counted by the commit that took
// the record out, whichever it is (Tx.quarantineMoved, quarantineOut).
func (q *Manager) noteQuarantine(now time.Time) {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	q.rt(QueueQuarantine, now).in.add(now)
}

// quarantineOut counts n messages a commit took out of the quarantine
// in its OUT/MIN (none: it only changed what the cached totals count),
// and invalidates the cached totals (quarantineLeft).
func (q *Manager) quarantineOut(n int) {
	now := q.clk.Now()
	q.qmu.Lock()
	r := q.rt(QueueQuarantine, now)
	for range n {
		r.out.add(now)
	}
	q.qmu.Unlock()
	q.quarantineLeft()
}

// SetQuarantine changes the quarantine's expiry settings (reload).
func (q *Manager) SetQuarantine(expiration time.Duration, dsnOnExpiry bool) {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	if expiration > 0 {
		q.cfg.QuarantineExpiration = expiration
	}
	q.cfg.QuarantineDSN = dsnOnExpiry
}

func (q *Manager) quarantinePolicy() (time.Duration, bool) {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	exp := q.cfg.QuarantineExpiration
	if exp <= 0 {
		exp = DefaultQuarantineExpiration
	}
	return exp, q.cfg.QuarantineDSN
}

// DefaultQuarantineExpiration applies when ManagerConfig gives none
// (config.DefaultQuarantineExpiration).
const DefaultQuarantineExpiration = 15 * 24 * time.Hour

// quarantineScan bounds the records one expiry pass reads.
const quarantineScan = 100000

// pruneQuarantine removes the quarantined messages that arrived
// QuarantineExpiration before now, one transaction each (each can make
// a DSN). Arrival times follow clock steps (shiftTimes), so a step does
// not expire the quarantine wholesale.
func (q *Manager) pruneQuarantine(now time.Time) int {
	exp, dsn := q.quarantinePolicy()
	cutoff := now.Add(-exp)
	var expired []ID
	_ = q.store.View(func(tx *Tx) error {
		for _, id := range tx.InQueue(QueueQuarantine, quarantineScan) {
			if m, err := tx.Get(id); err == nil && m.State == Quarantined && m.Arrived.Before(cutoff) {
				expired = append(expired, id)
			}
		}
		return nil
	})
	n := 0
	for _, id := range expired {
		err := q.removeMessage(context.Background(), id, dsn, removal{check: checkQuarantinedIdle,
			reply: "550 5.7.1 the message was held at " + q.cfg.Hostname + " and not released for delivery within the time allowed",
			event: "remove", note: "quarantine expired"})
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotQuarantined), errors.Is(err, ErrBusy):
			// released or deleted meanwhile
		default:
			q.log.Error("expiring a quarantined message failed; the next hour tries again", "msg_id", id.String(), "err", err)
			return n
		}
	}
	return n
}

// A quarantined message exists on this server only (see above), and
// that includes the copies of it this server holds for other servers:
// a shadow copy on receipt pushed by the server that received the
// message (receiptcopy.go) or a shadow copy of a message relayed on.
// Were such a copy kept, its primary's failure would have it taken over
// and delivered while the quarantined original waits for the operator,
// and the release would deliver it a second time. So the quarantine
// absorbs them (settleCopiesForQuarantine): in the commit that
// quarantines a message, every recipient of the same organisation
// message id of which another record here holds a copy — Shadowed, or
// taken over from a copy before the quarantine and still pending
// (heldCopy) — the same address — is settled ("merged into the quarantined message"), and a
// copy left with nothing is removed; a copy that arrives after the
// quarantined message keeps none of its recipients
// (quarantinedRcpts). A record in delivery (Active) is not written (one
// writer per message): the commit that ends its attempt settles its
// copies instead (settleForQuarantine: the commit of results, and
// putLeaving for a requeue, hold, poison or Recover), reading the
// quarantined records in its own transaction — no record is kept aside,
// the quarantined record is itself the durable fact. Until that commit
// the operator cannot release or delete the quarantined message (nor
// can its expiry remove it): ErrBusy, "try again in a moment"
// (copyInDelivery). A release or a deletion then would leave the copy
// to a takeover — the message delivered twice, or delivered although
// the operator deleted it —, and refusing for the seconds an attempt
// lasts is what the operator expects of a message in delivery anyway.
// A copy taken over and in delivery when the quarantine comes may be
// delivered by that attempt (the verdict came too late for it); what the
// attempt defers is settled by its commit. Settled copies can no longer
// be taken over, so the quarantine also reaches every copy this server
// would take over later.

// heldCopy reports whether r is a copy this server holds of a message
// another server is primary for: shadowed, or taken over from such a
// copy and still pending (takenOverRcpt). The quarantine of the message
// reaches both.
func heldCopy(r *Recipient) bool {
	return r.Status == Shadowed || takenOverRcpt(r)
}

// copiesOf calls fn for every other record here with the org id of the
// quarantined message m that holds a copy (heldCopy) of one of m's
// recipients, with the indexes of those recipients; fn stops the walk
// by returning false.
func (t *Tx) copiesOf(m *Message, fn func(o *Message, rcpts []int) (bool, error)) error {
	if m.OrgID == "" {
		return nil
	}
	held := newRcptMatch[bool]() // rcptmatch.go: the local part exact first
	for _, r := range m.Rcpts {
		held.put(r.Addr, true)
	}
	for _, id := range t.ByOrgID(m.OrgID) {
		if id == m.ID {
			continue
		}
		o, err := t.Get(id)
		if err != nil || o.State == Quarantined {
			continue
		}
		var rcpts []int
		for i := range o.Rcpts {
			if heldCopy(&o.Rcpts[i]) && held.has(o.Rcpts[i].Addr) {
				rcpts = append(rcpts, i)
			}
		}
		if len(rcpts) == 0 {
			continue
		}
		if more, err := fn(o, rcpts); err != nil || !more {
			return err
		}
	}
	return nil
}

// copyInDelivery returns a record in delivery (Active) that holds a copy
// of one of the quarantined message m's recipients (copiesOf), or 0:
// until its attempt's commit settles that copy (settleForQuarantine),
// m's quarantine must not end.
func (t *Tx) copyInDelivery(m *Message) ID {
	var busy ID
	_ = t.copiesOf(m, func(o *Message, _ []int) (bool, error) {
		if o.State == Active {
			busy = o.ID
		}
		return busy == 0, nil
	})
	return busy
}

// checkQuarantinedIdle is checkQuarantined for a quarantine that ends
// (release, deletion, expiry): refused with ErrBusy while a copy of the
// message is in delivery (copyInDelivery).
func checkQuarantinedIdle(tx *Tx, m *Message) error {
	if err := checkQuarantined(m); err != nil {
		return err
	}
	if o := tx.copyInDelivery(m); o != 0 {
		return fmt.Errorf("%w: message %s holds a shadow copy of the quarantined message %s, which the end of its attempt settles",
			ErrBusy, o, m.ID)
	}
	return nil
}

// settleForQuarantine settles, in the commit that ends the attempt of m
// (the record leaving delivery, in memory), every recipient of which m
// holds a copy (heldCopy: shadowed, or taken over and still pending)
// that a quarantined record here with m's org id holds too: the
// quarantine absorbs the copy it could not write while m was in
// delivery (settleCopiesForQuarantine). Run before the takeovers kept
// aside are applied, so a settled copy is not taken over. It reports
// whether it settled a pending recipient (one taken over): the commit
// may leave m with nothing to attempt.
func settleForQuarantine(tx *Tx, m *Message) (pending bool) {
	if m.OrgID == "" || !hasShadowed(m) && len(takenFrom(m)) == 0 {
		return false
	}
	qr := tx.quarantinedRcpts(m.OrgID, m.ID)
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if into, ok := qr.get(r.Addr); ok && heldCopy(r) {
			pending = pending || r.Status == Pending
			r.Status, r.LastReply = Relayed, "merged into quarantined message "+into.String()
		}
	}
	return pending
}

// quarantinedRcpts returns the recipients (matched as rcptMatch
// matches) of the quarantined records here with org id orgID (the
// record except is left out), nil when there are none.
func (t *Tx) quarantinedRcpts(orgID string, except ID) *rcptMatch[ID] {
	if orgID == "" {
		return nil
	}
	var out *rcptMatch[ID]
	for _, id := range t.ByOrgID(orgID) {
		if id == except {
			continue
		}
		o, err := t.Get(id)
		if err != nil || o.State != Quarantined {
			continue
		}
		for _, r := range o.Rcpts {
			if out == nil {
				out = newRcptMatch[ID]()
			}
			out.put(r.Addr, o.ID)
		}
	}
	return out
}

// settleCopiesForQuarantine settles, for the quarantined message m
// being committed, the recipients of which the other records here with
// m's org id hold a copy (copiesOf: shadowed, or taken over and still
// pending) that m holds too; a record in delivery is left to the commit
// ending its attempt (settleForQuarantine). A record left with nothing
// to deliver or shadow is removed; it returns those.
func settleCopiesForQuarantine(tx *Tx, m *Message) (gone []*Message, err error) {
	err = tx.copiesOf(m, func(o *Message, rcpts []int) (bool, error) {
		if o.State == Active {
			return true, nil
		}
		before := statusesNow(o)
		for _, i := range rcpts {
			r := &o.Rcpts[i]
			r.Status, r.LastReply = Relayed, "merged into quarantined message "+m.ID.String()
		}
		// o's own copy elsewhere (one made again after a takeover) is
		// owed the recipients the quarantine took (takensingle.go).
		if err := tx.copySettled(o, before, tx.now()); err != nil {
			return false, err
		}
		if nothingLeft(o) {
			gone = append(gone, o)
			return true, tx.Delete(o.ID)
		}
		return true, tx.Put(o)
	})
	return gone, err
}

// quarStats are QuarantineStats's totals: those of a scan of the
// quarantine in the read transaction of bbolt id base (the last commit
// it saw), plus what each later commit changed (quarantineCounted).
// Hooks of commits run after their commit, outside its lock, so one may
// run after a later read transaction began: base tells a commit the
// scan saw from one it did not, and lastHook says a commit it did not
// see was applied to nothing before its totals were kept.
type quarStats struct {
	mu       sync.Mutex
	valid    bool
	base     int       // the bbolt transaction id the scan read at
	counted  time.Time // when
	n        int
	bytes    int64
	lastHook int // the highest write transaction id whose commit changed the quarantine
	scans    int // scans of the quarantine made (a test's count)
}

// quarantineScans is how many times QuarantineStats scanned the
// quarantine.
func (q *Manager) quarantineScans() int {
	q.qstats.mu.Lock()
	defer q.qstats.mu.Unlock()
	return q.qstats.scans
}
