package queue

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// The delay notice of an attempt that hangs (hungnotice25; rr24 F2).
//
// The delay notice is made by the commit of an attempt: the claim at
// its time makes one (noLaterThanDue), and its end's commit (finish)
// makes the "delayed" DSN for the recipients it leaves pending — mail
// it delivers gets none. An attempt whose job hangs (a tarpit, a next
// hop that holds its replies for up to command_timeout a command, a
// taken-over copy's first attempt here, which the expiry does not cut:
// expiryBinds) used to hold the notice until it ended: in a retry up
// to the expiry, in such a first attempt for the outbound timeouts.
//
// Now an attempt one of whose jobs runs when the notice falls due gets
// it noticeGrace later, if a job of it still runs then (a.jobs: started,
// not left) and, for a suspect, the attempt holds the suspects' turn
// (suspectgate.go; otherwise the end makes it): committed on a
// goroutine of its own through the jobs' commit path (a.cmu orders it
// before the attempt's end, as commitJob), in one transaction with the
// record's DelayNotified — the record, which stays Active, as the jobs'
// own commits left it (a.early) and marked — the DSN's PutNew, the
// delay note owed to the copy elsewhere (delaynote.go, also to a copy
// made again: heldCopy) and the taken-done note of a taken-over
// recipient it reports (takendone.go). So a crash after it leaves the
// message marked (Recover makes it Ready, DelayNotified: no second
// notice) and a crash before it leaves neither. The attempt's end then
// finds the notice made (a.noticed: m.DelayNotified set before finish)
// and makes none.
//
// It reports exactly the recipients still pending and not finished by
// a job that already ended: not those the jobs' own commits did (a
// failure or a success DSN among them: jobcommit.go), nor those whose
// result the end is to commit (a failure the jobs' commits left to it,
// an expansion, a give-back); a recipient a
// finished job deferred is reported with that job's reply, as the end
// would. The grace lets an attempt made at the notice's time that
// delivers promptly end first, so that mail it delivers gets no notice
// (TestDelayNoticeNotSentForMailTheAttemptThenDelivers).
//
// Once its notice is made the attempt is one the expiry may cut
// (expirycut.go): the notice gave the sender a Will-Retry-Until. A job
// of it that starts after the notice carries it to the next umbra
// server (deliver: Message.Carried, X-Umbra-Delay-Notified). A session
// already under way does not: its carried fields are written in front
// of the body before it connects, and their length is in the SIZE it
// announces at MAIL, so the hung session that ends by handing the
// message to another umbra server says "not notified", and that server,
// should it defer the message, sends a second notice (left: README,
// *Delivery*).
//
// What still waits for the hung job: the commit of a finished job's
// deferral. A Ready record has one retry time and one schedule entry,
// and a claim of it is a second attempt whose end writes the whole
// record while this one's end writes it too: two writers of one record,
// which the one-writer rule (doc.go) forbids. The deferred recipients'
// retry does not wait: the attempt makes it itself, at their retry
// step, while the hung job runs (siblingretry.go); nor does their
// notice.

// noticeGrace is how long after the delay notice fell due a job of the
// attempt must still run for the notice to be committed before the
// attempt's end.
const noticeGrace = time.Minute

// armNotice starts the timer of a's notice, once per attempt, when a
// job of it starts and the notice is owed: it fires noticeGrace after
// the notice falls due (or after now, if later).
func (q *Manager) armNotice(ctx context.Context, a *attempt) {
	m := a.m
	pol := q.policy()
	if m.Arrived.IsZero() || m.DelayNotified || pol.DelayNotification <= 0 || pol.DelayNotification >= pol.MessageExpiration ||
		m.From == "" {
		return
	}
	now := q.clk.Now()
	at := m.OrgArrived().Add(pol.DelayNotification)
	if at.Before(now) {
		at = now
	}
	at = at.Add(noticeGrace)
	a.mu.Lock()
	if a.noticeStop != nil || a.noticeOff {
		a.mu.Unlock()
		return
	}
	t := q.clk.NewTimer(at.Sub(now))
	stop := make(chan struct{})
	a.noticeTimer, a.noticeStop = t, stop
	a.mu.Unlock()
	go func() {
		defer q.recoverLogged(PanicNotice, "msg_id", m.ID.String()) // the attempt's end makes the notice (panics.go)
		select {
		case <-t.C():
			q.mayPanic(PanicNotice)
			q.commitNotice(ctx, a)
		case <-stop:
		case <-ctx.Done():
		}
	}()
}

// endNotice stops a's notice timer: the attempt's end makes the notice
// if it is owed. Called by endJobs with a.cmu held.
func (a *attempt) endNotice() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.endSiblingRetries() // siblingretry.go
	a.noticeOff = true
	if a.noticeStop != nil {
		a.noticeTimer.Stop()
		close(a.noticeStop)
		a.noticeTimer = nil
	}
}

// noticeMayRunLocked reports whether commitNotice may make a's notice
// now: a job of a started and has not left (a.jobs — not a.own or
// a.peer alone, which the attempt's start and end hold too), and, for a
// suspect (CrashCount > 0), a holds the suspects' turn: umbra's code on
// a suspect runs only with it (suspectgate.go). Called with a.mu held.
func (q *Manager) noticeMayRunLocked(a *attempt) bool {
	if a.jobs <= 0 {
		return false
	}
	return a.m.CrashCount == 0 || q.suspects.holds(a)
}

// commitNotice commits a's delay notice while a job of it still runs
// (see above). Nothing is written when the attempt's end has begun, the
// notice is not owed (any more), or the message expires: the end's.
func (q *Manager) commitNotice(ctx context.Context, a *attempt) {
	if q.stopping(ctx) {
		return // the end commits what the stop cut, the notice with it if owed
	}
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if a.ending || a.noticed.Load() {
		return
	}
	m := a.m
	pol := q.policy()
	now := q.clk.Now()
	age := now.Sub(m.OrgArrived())
	if m.Arrived.IsZero() || m.DelayNotified || m.From == "" || pol.DelayNotification <= 0 ||
		age < pol.DelayNotification || age >= pol.MessageExpiration {
		return
	}
	a.mu.Lock()
	if !q.noticeMayRunLocked(a) {
		a.mu.Unlock()
		return // the attempt's end makes it
	}
	body, loaded := a.body, a.loaded
	// Every result known to the attempt: a group's that commitJob left
	// to the end, a job's that returned but has not reported yet
	// (a.known), besides the results reported (a.results).
	results := append(slices.Clone(a.results), a.known...)
	started := maps.Clone(a.started)
	inData := maps.Clone(a.inData)
	a.mu.Unlock()
	if !loaded {
		return
	}
	// The message as the DSN reports it: the jobs' own commits applied,
	// a finished job's deferral with its reply, as finish applies them.
	rm := *m
	rm.Rcpts = slices.Clone(m.Rcpts)
	for i, r := range a.early {
		applyJob(&rm.Rcpts[i], r)
	}
	first := map[int]Result{} // finish takes a recipient's first result
	for _, r := range results {
		if _, seen := first[r.Rcpt]; !seen && r.Rcpt >= 0 && r.Rcpt < len(rm.Rcpts) {
			first[r.Rcpt] = r
		}
	}
	var pending []int
	for _, i := range rm.Pending() {
		rc := &rm.Rcpts[i]
		if r, ok := first[i]; ok {
			switch r.Outcome {
			case Deferred:
				rc.Queue, rc.NextHop, rc.LastReply = r.Queue, r.NextHop, r.Reply
			case deadWait:
				prevReply, prevHop := rc.LastReply, rc.NextHop
				rc.Queue = r.Queue
				rc.LastReply, rc.NextHop = deadWaitReply(prevReply, prevHop, r)
			case Held, throttled:
				rc.LastReply = r.Reply
			default:
				continue // finished by its job: the end commits it
			}
		} else {
			if rc.Queue == "" {
				// No result yet, its record naming no destination (a
				// first attempt): the one its job was planned for
				// (noteEntered), which the DSN names, not none.
				rc.Queue = a.entered[i]
			}
			if staleNote(rc.LastReply) {
				// umbra's note of an earlier attempt's end (the stop's
				// before a restart, a busy or dead destination's): this
				// attempt has it now — under way, or waiting for a slot
				// (below) — and the DSN says so, with the host's reply
				// the note carries if it has one (rt37 F2).
				rc.LastReply = realReply(rc.LastReply)
				if umbraNote(rc.LastReply) {
					rc.LastReply = ""
				}
			}
			if p, ok := inData[i]; ok && strings.HasPrefix(p.reply, "5") && started[i] {
				// Its next hop refused its RCPT for good in this
				// attempt: it is not retried, and its failure DSN, at
				// the job's end, quotes that reply. A delay notice
				// (Action: delayed, RFC 3464 §2.3.3: umbra retries it)
				// does not list it — nor "no host has replied yet".
				continue
			} else if ok && p.reply != "" && started[i] {
				// Its next hop answered its RCPT with a refusal in this
				// attempt, which goes on with the others: that host's
				// reply, the newest, as the job's result will say — not
				// "no host has replied yet" (LeftTransaction). The DSN's
				// copy alone, as below.
				rc.LastReply, rc.NextHop = p.reply, p.host
			} else if ok && p.phase != "" && started[i] {
				// Its host answered the session's opening and has not
				// answered since its transaction's envelope or data
				// began: said so, not "no host has replied yet"
				// (dataStallNote) — nor, on a retry, the end of the
				// attempt before, which is not what holds it now. The
				// DSN's copy alone, as below.
				rc.LastReply, rc.NextHop = dataStallNote(p.host, p.phase, now.Sub(p.since)), p.host
			}
			if rc.LastReply == "" && !started[i] {
				// Its job waits for a slot of its destination's window:
				// no host was asked about it. Reported as waiting for a
				// slot (Status 4.4.5, umbra's congestion), as a
				// throttled recipient is — not "no host has replied
				// yet", 4.4.1, no answer from host (sched33). The DSN's
				// copy alone: the record keeps its reply.
				rc.LastReply = throttleReply
			}
		}
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return
	}
	// A recipient held now is reported held, as the attempt's end reports
	// it (heldNow): not with an earlier host's reply. rm is the DSN's
	// alone; the record this commit writes keeps the jobs' replies.
	q.heldNow(&rm)
	delayed := q.delayOwedHere(&rm, pending, m.OrgArrived().Add(pol.DelayNotification))
	var want []int
	for _, i := range delayed {
		if rm.Rcpts[i].Notify.Wants(NotifyDelay) {
			want = append(want, i)
		}
	}
	if rm.Redelivered() {
		want = nil // no DSN of a dumpster redelivery copy (finish)
	}
	if len(want) == 0 {
		return // no DSN to make: the end marks the notice as before
	}
	// Building the DSN reads the message's headers: umbra's code on it
	// (a crash here counts, peerwait.go), as at the attempt's end.
	// Entered only while a job of the attempt still runs and, for a
	// suspect, the attempt holds the suspects' turn (suspectgate.go),
	// looked at under a.mu with the section's start: markPhase gives
	// the turn back only under a.mu, and not while the section runs.
	a.mu.Lock()
	if !q.noticeMayRunLocked(a) {
		a.mu.Unlock()
		return // the job ended meanwhile: the attempt's end makes it
	}
	a.own++
	q.markPhase(a)
	a.mu.Unlock()
	dm, db := func() (*Message, []byte) {
		defer q.leaveOwn(a)        // a panic of the build (recovered: recoverLogged) leaves the section too
		q.mayPanic(panicNoticeDSN) // test hook: a panic of the DSN's build (newDSN)
		return q.newDSN(&rm, body, NotifyDelay, want, now, pol)
	}()

	// The record as the jobs' commits left it, marked.
	pm := *m
	pm.Rcpts = slices.Clone(m.Rcpts)
	pm.State = Active
	pm.DelayNotified = true
	for _, r := range a.early {
		applyJob(&pm.Rcpts[r.Rcpt], r)
	}
	var reportedTo []string
	wrote := false
	commit := func(tx *Tx) error {
		reportedTo, wrote = nil, false
		// Only a record still in delivery here, not marked since.
		if old, err := tx.Get(m.ID); err != nil || old.State != Active || old.DelayNotified {
			return nil
		}
		if err := tx.noteTakenDone(&pm, nil, delayed, nil, now); err != nil { // before the write: it reads the index entries
			return err
		}
		if err := tx.Put(&pm); err != nil {
			return err
		}
		if delayNoteOwed(&pm, true, pm.ShadowServer, pm.ShadowID) {
			if err := tx.AddDelayNote(pm.ShadowServer, pm.ShadowID, now); err != nil {
				return err
			}
			reportedTo = append(reportedTo, pm.ShadowServer)
		}
		if pm.OrgID != "" {
			if h := tx.heldCopy(pm.ID); h != "" && (!sameServer(h, pm.ShadowServer) || pm.ShadowID != pm.OrgID) &&
				delayNoteOwed(&pm, true, h, pm.OrgID) {
				if err := tx.AddDelayNote(h, pm.OrgID, now); err != nil {
					return err
				}
				reportedTo = append(reportedTo, h)
			}
		}
		single := pm.ShadowServer != "" && pm.ShadowID != "" || tx.markedSingle(pm.ID)
		if err := tx.PutNew(dm, db); err != nil {
			return err
		}
		if _, err := tx.markEnteredSingle(dm, now, single || tx.makesCopies()); err != nil {
			return err
		}
		wrote = true
		return nil
	}
	// The delay note it writes for the copy elsewhere is a notification
	// that server's XQUERYDISCARD WAIT= waits for: not set aside then.
	// Not through the space reserve (commitResultsOnce): the notice
	// writes a new DSN, it neither frees room nor keeps the results of
	// mail handed on — the reserve stays whole for the commits it is
	// kept for (the attempt's results after it, a takeover), and the
	// attempt's end makes the notice.
	if err := q.commitResultsOnce(m, false, m.ShadowServer != "" && m.ShadowID != "", ctx.Err() != nil, commit); err != nil {
		q.log.Warn("committing the delay notice of a message in delivery failed; the attempt's end makes it", "msg_id", m.ID.String(), "err", err)
		return
	}
	if !wrote {
		return
	}
	a.noticed.Store(true)
	for _, server := range reportedTo {
		q.ev.Event("discard", &pm, nil, "delay note for "+server+" prepared: the delay DSN went from here") // its commit woke server's long poll (owedsignal.go)
	}
	q.dsnEvent(dm, NotifyDelay)
	q.Kick()
}
