package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
)

// Outcome is what one delivery attempt did for one recipient.
type Outcome uint8

const (
	// Deferred: a temporary failure; try again later.
	Deferred Outcome = iota
	// DeliveredOK: final delivery into a mailbox.
	DeliveredOK
	// RelayedOK: a next hop accepted responsibility.
	RelayedOK
	// FailedPerm: a permanent failure; the sender gets a DSN.
	FailedPerm
	// Held: routed to a queue the operator suspended; not attempted.
	Held
	// ShadowedOK: a primary took the recipient in a shadow session; the
	// copy stays here until the primary's discard notification.
	ShadowedOK
	// Expanded: the recipient is a group expanded here (Result.Expand):
	// it is done, and its members join the message as new recipients,
	// due at once, in the same commit.
	Expanded
)

// Result is the outcome of an attempt for the recipient m.Rcpts[Rcpt].
type Result struct {
	Rcpt    int
	Outcome Outcome
	Queue   string // the delivery queue: e.g. "mx:example.org", "smarthost:to-edge", "mailbox:DB01"
	NextHop string // the host tried: e.g. "mx.example.org[192.0.2.1]:25", "maildir", "lmtp"
	Reply   string // the next hop's reply or umbra's diagnostic, e.g. "550 5.1.1 no such user"
	// For ShadowedOK: the primary, its address, the shadow message id and
	// the send connector used ("" inside the organisation).
	Primary, PrimaryAddr, ShadowID, PrimaryVia string
	// PrimaryDB is the primary's transport database id in that session.
	PrimaryDB string
	// Duplicate marks a DeliveredOK that was not written into the mailbox
	// because the same message had been delivered there before (SR-11).
	Duplicate bool
	// Database is the mailbox database of a DeliveredOK: the duplicate
	// record and the dumpster copy are kept under it.
	Database string
	// DSNPassed marks a RelayedOK or ShadowedOK whose next hop advertised
	// DSN and so took NOTIFY, ORCPT, RET and ENVID: reporting success is
	// then its job, and this server sends no success DSN (RFC 3461 §6.2).
	DSNPassed bool
	// Expand is the members of an Expanded group recipient.
	Expand []string
}

// Keeper keeps a copy of each final delivery (the transport dumpster,
// package dumpster). Keep runs inside the transaction that commits the
// delivery, so the copy is as durable as the delivery's record; like
// every function given to Store.Update it may run twice, so its effects
// outside the transaction go into after, which runs once the commit
// succeeded.
type Keeper interface {
	Keep(tx *Tx, m *Message, body []byte, database string, rcpts []int, now time.Time) (after func(), err error)
}

// Deliverer makes one delivery attempt of m to the recipients at the
// given indexes and reports one Result for each. It never touches the
// store; when ctx ends it returns promptly with Deferred results.
type Deliverer interface {
	Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result
}

// Events receives the message events the manager causes (tracking log,
// metrics). Implementations must be fast and must not block.
type Events interface {
	Event(name string, m *Message, rcpt *Recipient, reply string)
}

// ManagerConfig configures a Manager. Zero fields take the defaults of
// package config.
type ManagerConfig struct {
	Hostname          string // reporting MTA in DSNs
	RetrySchedule     []time.Duration
	RetryJitter       float64
	MessageExpiration time.Duration
	DelayNotification time.Duration
	MaxActive         int
	PoisonThreshold   int
	Clock             clock.Clock
	Log               *slog.Logger
	Events            Events
	// Dumpster, when set, keeps copies of final deliveries.
	Dumpster Keeper
	// DuplicateWindow is how long a final delivery is remembered to
	// suppress a resubmitted copy (SR-11); default MessageExpiration.
	DuplicateWindow time.Duration
	// BounceSizeLimit caps the original content a DSN returns (bytes;
	// default 50 KiB): see BuildDSN.
	BounceSizeLimit int64
}

// Manager is the queue manager: the only scheduler. It claims due
// messages from the time index into a bounded active set, hands each to
// the Deliverer, and commits each attempt's results in one transaction
// together with the DSNs they cause.
type Manager struct {
	store *Store
	del   Deliverer
	cfg   ManagerConfig
	clk   clock.Clock
	log   *slog.Logger
	ev    Events

	kick chan struct{}

	mu     sync.Mutex
	active int
	wg     sync.WaitGroup

	pmu     sync.Mutex // guards the policy fields of cfg (SetPolicy)
	wmu     sync.Mutex
	waiters map[ID][]chan struct{} // WaitGone: senders waiting for confirmation (SR-9)
	handed  map[ID][]chan struct{} // WaitHandedOn: pickup files waiting for ownership to pass (SR-12)

	rfmu     sync.Mutex
	refusals map[ID]*refusalHold // HoldRefusal: waiting senders that take a refusal (SMTP-7)

	dep departures // Departure: how a waited-on message left

	// OnShadowed, when set, hears that a message with waiters became a
	// shadow copy at primary, so that its discard can be asked for at once.
	OnShadowed func(primary string)
	dsig       discardSignals // shadow sessions waiting for a discard notification

	cmu    sync.Mutex
	claims map[string]ID   // final deliveries in flight: database ‖ record key → message
	owned  map[ID][]string // the claims of each message in flight

	peersFound atomic.Bool // shadow queues of an older database got their peer records

	qmu       sync.Mutex
	suspended map[string]bool          // queues the operator suspended (persisted)
	runtime   map[string]*queueRuntime // per-queue last error and rates (in memory)
}

// NewManager returns a manager over store. Call Start to run it.
func NewManager(store *Store, del Deliverer, cfg ManagerConfig) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.RetrySchedule) == 0 {
		cfg.RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = 1000
	}
	if cfg.PoisonThreshold <= 0 {
		cfg.PoisonThreshold = 2
	}
	if cfg.MessageExpiration <= 0 {
		cfg.MessageExpiration = 48 * time.Hour
	}
	if cfg.Events == nil {
		cfg.Events = nopEvents{}
	}
	if cfg.BounceSizeLimit <= 0 {
		cfg.BounceSizeLimit = 50 << 10 // config.DefaultBounceSizeLimit
	}
	q := &Manager{store: store, del: del, cfg: cfg, clk: cfg.Clock, log: cfg.Log, ev: cfg.Events,
		kick: make(chan struct{}, 1), suspended: map[string]bool{}, runtime: map[string]*queueRuntime{},
		waiters: map[ID][]chan struct{}{}, handed: map[ID][]chan struct{}{},
		claims: map[string]ID{}, owned: map[ID][]string{}}
	_ = store.View(func(tx *Tx) error {
		for _, name := range tx.Suspended() {
			q.suspended[name] = true
		}
		return nil
	})
	return q
}

type nopEvents struct{}

func (nopEvents) Event(string, *Message, *Recipient, string) {}

// Recover runs once before Start: every message still marked Active was
// in flight when the server stopped without finishing it. Each such
// message counts one crash; at PoisonThreshold crashes it goes to the
// poison queue, otherwise it is due at once.
func (q *Manager) Recover(ctx context.Context) (recovered, poisoned int, err error) {
	now := q.clk.Now()
	err = q.store.Update(ctx, func(tx *Tx) error {
		recovered, poisoned = 0, 0
		for _, id := range tx.ActiveIDs() {
			m, err := tx.Get(id)
			if err != nil {
				return fmt.Errorf("recover %s: %w", id, err)
			}
			m.CrashCount++
			if m.CrashCount >= q.cfg.PoisonThreshold {
				m.State = Poison
				m.LastError = fmt.Sprintf("in flight during %d crashes", m.CrashCount)
				poisoned++
			} else {
				m.State, m.NextAttempt = Ready, now
				recovered++
			}
			if err := putLeaving(tx, m); err != nil { // with takeovers kept aside while it was in flight
				return err
			}
		}
		return nil
	})
	if poisoned > 0 {
		q.log.Warn("messages moved to the poison queue", "count", poisoned)
	}
	return recovered, poisoned, err
}

// Start runs the scheduler until ctx ends. Wait returns when every
// attempt it started has committed its results.
func (q *Manager) Start(ctx context.Context) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.run(ctx)
	}()
}

// Wait blocks until the scheduler and every attempt have finished.
func (q *Manager) Wait() { q.wg.Wait() }

// Kick makes the scheduler look at the time index now.
func (q *Manager) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Submit makes a new message durable and schedules it; it returns once
// the commit holding the message is fsync'd. m.ID must come from
// Store.NewID. When the active set has room the message is committed
// already Active and handed to delivery without a second commit.
func (q *Manager) Submit(ctx context.Context, m *Message, body []byte) error {
	_, _, err := q.submit(ctx, m, body, "")
	return err
}

// SubmitKeyed is Submit for a source that may offer one submission
// twice, such as a pickup file whose marking a crash interrupted: key
// names the submission, and is stored with the message in the same
// commit (bucket submitkeys, kept for message_expiration). When key was
// submitted before, nothing is queued and the earlier message's id is
// returned with again set; the earlier message may have left the queue
// by then. A different key is a different message, whatever its content.
func (q *Manager) SubmitKeyed(ctx context.Context, m *Message, body []byte, key string) (prev ID, again bool, err error) {
	return q.submit(ctx, m, body, key)
}

func (q *Manager) submit(ctx context.Context, m *Message, body []byte, key string) (prev ID, again bool, err error) {
	if len(m.Rcpts) == 0 {
		return 0, false, ErrNoRecipients // before the merge, which would take it for one fully merged
	}
	now := q.clk.Now()
	if m.Arrived.IsZero() {
		m.Arrived = now
	}
	m.Size = int64(len(body))
	active := q.reserve()
	if active {
		m.State = Active
	} else {
		m.State, m.NextAttempt = Ready, now
	}
	all := m.Rcpts
	var merged []mergedRcpt
	stored := true
	err = q.store.Update(ctx, func(tx *Tx) error {
		m.Rcpts, merged, stored, again = all, nil, true, false
		if key != "" {
			if id, ok := tx.SubmitKey(key); ok {
				prev, again, stored = id, true, false
				return nil
			}
			if err := tx.PutSubmitKey(key, m.ID, now); err != nil {
				return err
			}
		}
		keep, mr, discardNow := mergeHeld(tx, m)
		if len(mr) > 0 {
			m.Rcpts, merged = keep, mr
		}
		if len(m.Rcpts) == 0 {
			stored = false
			if discardNow {
				return tx.AddDiscard(m.ShadowServer, m.ShadowID, now)
			}
			return nil
		}
		return tx.PutNew(m, body)
	})
	if err != nil {
		m.Rcpts = all
		if active {
			q.release()
		}
		return 0, false, err
	}
	if again {
		if active {
			q.release()
		}
		q.log.Info("submission seen before; not queued again", "msg_id", prev.String())
		return prev, true, nil
	}
	q.ev.Event("receive", m, nil, "")
	q.noteSubmitted(now)
	for _, mr := range merged {
		rc := mr.rcpt
		rc.Queue = QueueMerged
		q.ev.Event("duplicate-suppressed", m, &rc, "merged into queued message "+mr.into.String()+" of the same org id")
		q.log.Warn("resubmitted copy merged into the queued original", "msg_id", m.ID.String(), "org_id", m.OrgID,
			"into", mr.into.String(), "rcpt", rc.Addr)
	}
	if !stored {
		if active {
			q.release()
		}
		q.notifyGone(m.ID)
		return m.ID, false, nil
	}
	if active {
		q.dispatch(ctx, m, body)
	} else {
		q.Kick()
	}
	return m.ID, false, nil
}

func (q *Manager) reserve() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active >= q.cfg.MaxActive {
		return false
	}
	q.active++
	return true
}

func (q *Manager) release() {
	q.mu.Lock()
	q.active--
	q.mu.Unlock()
	q.Kick()
}

// reserveUpTo takes up to n free slots of the active set.
func (q *Manager) reserveUpTo(n int) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(n, q.cfg.MaxActive-q.active)
	if k < 0 {
		k = 0
	}
	q.active += k
	return k
}

// unreserve gives back slots that were reserved but not used.
func (q *Manager) unreserve(n int) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.active -= n
	q.mu.Unlock()
}

func (q *Manager) room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cfg.MaxActive - q.active
}

func (q *Manager) run(ctx context.Context) {
	var lastPrune time.Time
	for {
		if now := q.clk.Now(); now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			q.pruneDiscards(now)
		}
		q.claimDue(ctx)
		var due time.Time
		var ok bool
		_ = q.store.View(func(tx *Tx) error { due, ok = tx.NextDue(); return nil })
		wait := nextWake(due, ok, q.clk.Now(), q.room())
		t := q.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-q.kick:
		case <-t.C():
		}
		t.Stop()
	}
}

// nextWake is how long the scheduler sleeps: until the next due time, at
// once if that passed since claimDue looked, and until a kick (an hour at
// most) when nothing is scheduled or the active set is full, since a
// release or a Submit kicks it.
func nextWake(due time.Time, ok bool, now time.Time, room int) time.Duration {
	switch {
	case !ok || room <= 0:
		return time.Hour
	case due.Before(now):
		return 0
	}
	return due.Sub(now)
}

// claimDue moves due messages into the active set, as many as it has
// room for, in one transaction, and dispatches them. Slots are reserved
// before the claim, so a concurrent Submit cannot overfill the set.
func (q *Manager) claimDue(ctx context.Context) {
	for ctx.Err() == nil {
		now := q.clk.Now()
		// Reserve only what is due, so that a Submit meanwhile still
		// finds room and goes straight to delivery.
		due := 0
		_ = q.store.View(func(tx *Tx) error { due = len(tx.Due(now, q.room())); return nil })
		slots := q.reserveUpTo(due)
		if slots == 0 {
			return
		}
		var claimed []*Message
		err := q.store.Update(context.Background(), func(tx *Tx) error {
			claimed = claimed[:0]
			for _, id := range tx.Due(now, slots) {
				m, err := tx.Get(id)
				if err != nil {
					return fmt.Errorf("claim %s: %w", id, err)
				}
				m.State = Active
				if err := tx.Put(m); err != nil {
					return err
				}
				claimed = append(claimed, m)
			}
			return nil
		})
		if err != nil {
			claimed = nil
			q.log.Error("claiming due messages failed", "err", err)
		}
		q.unreserve(slots - len(claimed))
		for _, m := range claimed {
			q.dispatch(ctx, m, nil)
		}
		if len(claimed) < slots {
			return
		}
	}
}

// dispatch runs one attempt of m in its own goroutine; the number of such
// goroutines is bounded by the active set. body may be nil: it is then
// read from the store.
func (q *Manager) dispatch(ctx context.Context, m *Message, body []byte) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer q.release()
		defer q.releaseClaims(m.ID)
		if ctx.Err() != nil {
			// Shutting down: back to due-now, no attempt counted.
			q.requeue(m)
			return
		}
		if body == nil {
			err := q.store.View(func(tx *Tx) error {
				var err error
				body, err = tx.Body(m.ID)
				return err
			})
			if err != nil {
				q.poison(m, fmt.Sprintf("body unreadable: %v", err))
				return
			}
		}
		rcpts := q.attemptable(m)
		if len(rcpts) == 0 {
			q.hold(m)
			return
		}
		results, panicked := q.deliver(ctx, m, body, rcpts)
		if panicked != "" {
			q.poison(m, panicked)
			return
		}
		// Results are committed even when shutdown cut the attempt short:
		// what the next hops accepted must not be sent again.
		q.finish(m, body, rcpts, results, ctx.Err() != nil)
	}()
}

func (q *Manager) deliver(ctx context.Context, m *Message, body []byte, rcpts []int) (res []Result, panicked string) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("delivery panicked", "msg_id", m.ID.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			panicked = fmt.Sprintf("delivery panicked: %v", r)
		}
	}()
	return q.del.Deliver(ctx, m, body, rcpts), ""
}

// requeue puts an interrupted message back as due now, without counting an
// attempt.
func (q *Manager) requeue(m *Message) {
	m.State, m.NextAttempt = Ready, q.clk.Now()
	if err := q.store.Update(context.Background(), func(tx *Tx) error { return putLeaving(tx, m) }); err != nil &&
		!errors.Is(err, ErrClosed) {
		q.log.Error("requeue failed; the message is retried after restart", "msg_id", m.ID.String(), "err", err)
	}
}

func (q *Manager) poison(m *Message, why string) {
	m.State, m.LastError = Poison, why
	if err := q.store.Update(context.Background(), func(tx *Tx) error { return putLeaving(tx, m) }); err != nil {
		q.log.Error("moving message to the poison queue failed", "msg_id", m.ID.String(), "err", err)
		return
	}
	q.log.Warn("message moved to the poison queue", "msg_id", m.ID.String(), "reason", why)
	q.ev.Event("poison", m, nil, why)
}

// finish applies an attempt's results in one transaction: recipient
// states, the retry time or the message's removal, and any DSNs.
// interrupted (shutdown) makes the pending recipients due at once, without
// counting the attempt.
func (q *Manager) finish(m *Message, body []byte, attempted []int, results []Result, interrupted bool) {
	now := q.clk.Now()
	pol := q.policy()
	got := map[int]bool{}
	attemptedAny := false
	var final []int
	finalDB := map[int]string{}
	q.noteResults(m, results, now)
	var failed, delivered []int
	expanded := false
	for _, r := range results {
		if r.Rcpt < 0 || r.Rcpt >= len(m.Rcpts) || got[r.Rcpt] || m.Rcpts[r.Rcpt].Status.Done() {
			continue
		}
		got[r.Rcpt] = true
		rc := &m.Rcpts[r.Rcpt]
		// A recipient taken over from a failed primary stays in that
		// primary's shadow queue until a route takes it (SR-6).
		prevQueue := rc.Queue
		taken := strings.HasPrefix(prevQueue, "shadow:") && (r.Outcome == Deferred || r.Outcome == Held)
		if r.Outcome != Held {
			attemptedAny = true
			rc.Queue, rc.NextHop, rc.LastReply = r.Queue, r.NextHop, r.Reply
		}
		switch r.Outcome {
		case DeliveredOK:
			rc.Status = Delivered
			delivered = append(delivered, r.Rcpt)
			if r.Duplicate {
				q.ev.Event("duplicate-suppressed", m, rc, r.Reply)
				q.log.Warn("duplicate suppressed at final delivery", "msg_id", m.ID.String(), "org_id", m.OrgID, "rcpt", rc.Addr)
			} else {
				final = append(final, r.Rcpt)
				finalDB[r.Rcpt] = r.Database
				q.ev.Event("deliver", m, rc, r.Reply)
			}
		case RelayedOK:
			rc.Status = Relayed
			if !r.DSNPassed { // else the next hop reports success (RFC 3461)
				delivered = append(delivered, r.Rcpt)
			}
			q.ev.Event("send", m, rc, r.Reply)
		case ShadowedOK:
			rc.Status, rc.Primary, rc.PrimaryAddr, rc.ShadowID, rc.PrimaryVia = Shadowed, r.Primary, r.PrimaryAddr, r.ShadowID, r.PrimaryVia
			if !r.DSNPassed {
				delivered = append(delivered, r.Rcpt)
			}
			q.ev.Event("shadow", m, rc, r.Reply)
		case Expanded:
			rc.Status = Relayed
			q.ev.Event("expand", m, rc, r.Reply)
			expanded = expandInto(m, r.Rcpt, r.Expand) || expanded
		case FailedPerm:
			rc.Status = Failed
			failed = append(failed, r.Rcpt)
			q.ev.Event("fail", m, rc, r.Reply)
		case Held:
			if !taken {
				rc.Queue = r.Queue
			}
			rc.NextHop, rc.LastReply = m.Rcpts[r.Rcpt].NextHop, r.Reply
		default:
			m.LastError = r.Reply
			q.ev.Event("defer", m, rc, r.Reply)
		}
		if taken {
			rc.Queue = prevQueue
		}
	}
	for _, i := range attempted {
		if !got[i] && !m.Rcpts[i].Status.Done() {
			attemptedAny = true
			m.Rcpts[i].LastReply = "451 4.3.0 no result from delivery"
		}
	}
	m.CrashCount = 0

	var delayed []int
	pending := m.Pending()
	if len(pending) > 0 {
		if attemptedAny && !interrupted {
			m.Attempts++
		}
		age := now.Sub(m.Arrived)
		if age >= pol.MessageExpiration {
			for _, i := range pending {
				rc := &m.Rcpts[i]
				rc.Status = Failed
				rc.LastReply = "550 4.4.7 message expired after " + age.Round(time.Minute).String() + "; last reply: " + rc.LastReply
				failed = append(failed, i)
				q.ev.Event("fail", m, rc, rc.LastReply)
			}
		} else {
			if pol.DelayNotification > 0 && age >= pol.DelayNotification && !m.DelayNotified {
				m.DelayNotified = true
				delayed = pending
			}
			m.State = Ready
			if interrupted || expanded {
				m.NextAttempt = now // a group's members are due at once
			} else if attemptedAny {
				m.NextAttempt = now.Add(pol.backoff(m.Attempts))
			} else {
				m.NextAttempt = now.Add(holdRecheck) // every pending recipient is held
			}
		}
	}

	// A sender still waiting for its reply (SR-9) whose every recipient
	// was refused now gets the refusal instead of a DSN (SMTP-7).
	refusal := q.claimRefusal(m, failed)
	failDSN := -1 // index in dsns of the DSN that carries the discard
	var dsns []*Message
	var dsnBodies [][]byte
	for _, d := range []struct {
		kind  Notify
		rcpts []int
	}{{NotifyFailure, failed}, {NotifyDelay, delayed}, {NotifySuccess, delivered}} {
		var want []int
		for _, i := range d.rcpts {
			if m.Rcpts[i].Notify.Wants(d.kind) {
				want = append(want, i)
			}
		}
		if len(want) == 0 {
			continue
		}
		if d.kind == NotifyFailure && refusal != nil {
			q.log.Info("no DSN: the waiting sender gets the refusal", "msg_id", m.ID.String())
			continue
		}
		if m.From == "" {
			q.log.Info("no DSN for a message from the null sender", "msg_id", m.ID.String(), "kind", dsnKindName(d.kind))
			continue
		}
		dm := &Message{ID: q.store.NewID(now), State: Ready, Arrived: now, NextAttempt: now,
			Connector: "dsn", Rcpts: []Recipient{{Addr: m.From, Notify: NotifyNever}}}
		db := BuildDSN(q.cfg.Hostname, m, body, d.kind, want, now, m.Arrived.Add(pol.MessageExpiration), dm.ID, q.cfg.BounceSizeLimit)
		dm.Size = int64(len(db))
		dm.UTF8 = m.UTF8
		if d.kind == NotifyFailure {
			failDSN = len(dsns)
		}
		dsns, dsnBodies = append(dsns, dm), append(dsnBodies, db)
	}

	done := len(m.Pending()) == 0
	discard := done && m.ShadowServer != "" && m.ShadowID != ""
	if failDSN < 0 && len(dsns) > 0 {
		failDSN = 0 // a success DSN carries the discard when there is no failure DSN
	}
	shadowState := m.State
	// Final deliveries per database, in recipient order.
	var dbs []string
	perDB := map[string][]int{}
	for _, i := range final {
		db := finalDB[i]
		if perDB[db] == nil {
			dbs = append(dbs, db)
		}
		perDB[db] = append(perDB[db], i)
	}
	var afters []func()
	tookOver := false // sticky: a rerun of the function sees m already changed
	dsnOwesDiscard := false
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		afters = afters[:0]
		dsnOwesDiscard = false
		for _, db := range dbs {
			for _, i := range perDB[db] {
				if err := tx.RecordDelivered(db, m.OrgID, m.Rcpts[i].Addr, now); err != nil {
					return err
				}
			}
			if q.cfg.Dumpster != nil {
				after, err := q.cfg.Dumpster.Keep(tx, m, body, db, perDB[db], now)
				if err != nil {
					return fmt.Errorf("dumpster: %w", err)
				}
				if after != nil {
					afters = append(afters, after)
				}
			}
		}
		// A primary may have sent a discard while this message was in
		// delivery (ApplyDiscards kept it aside) — for a recipient
		// shadowed now or by an earlier attempt: apply it now.
		for i := range m.Rcpts {
			rc := &m.Rcpts[i]
			if rc.Status != Shadowed {
				continue
			}
			early, err := tx.TakeEarlyDiscard(rc.Primary, rc.ShadowID)
			if err != nil {
				return err
			}
			if early {
				rc.Status = Relayed
			}
		}
		// A takeover while this message was in delivery, or a primary
		// that presented another database since the copy was made: the
		// recipients are this server's again (one writer, see doc.go).
		if t, err := q.shadowTransitions(tx, m, results, now); err != nil {
			return err
		} else if t {
			tookOver = true
		}
		done := done && !tookOver
		discard := discard && !tookOver
		keep := done && hasShadowed(m) // a shadow copy stays for its primaries
		m.State = shadowState
		if keep {
			m.State = Shadow
		}
		if tookOver {
			m.State, m.NextAttempt = Ready, now
		}
		if done {
			var err error
			if keep {
				err = tx.Put(m)
			} else {
				err = tx.Delete(m.ID)
			}
			if err != nil {
				return err
			}
			// Every recipient is done (SR-4): the shadow server may now
			// drop its copy. The notification is part of this commit —
			// unless this commit also made the failure DSN: that DSN
			// exists only here until it leaves, so it carries the
			// discard and owes it when it is done (doc.go, "DSNs and
			// shadow copies"); until then the shadow copy covers it.
			if discard && failDSN >= 0 {
				dsns[failDSN].ShadowServer, dsns[failDSN].ShadowID = m.ShadowServer, m.ShadowID
				dsnOwesDiscard = true
			} else if discard {
				if err := tx.AddDiscard(m.ShadowServer, m.ShadowID, now); err != nil {
					return err
				}
			}
		} else if err := tx.Put(m); err != nil {
			return err
		}
		for i, dm := range dsns {
			if err := tx.PutNew(dm, dsnBodies[i]); err != nil {
				return err
			}
		}
		return nil
	})
	refusal.answer(m, err == nil)
	if err != nil {
		// The message stays Active in the database; Recover retries it at
		// the next start. Delivered recipients may then see a duplicate,
		// never a loss.
		q.log.Error("committing delivery results failed", "msg_id", m.ID.String(), "err", err)
		return
	}
	for _, f := range afters {
		f()
	}
	if tookOver {
		done, discard = false, false
		q.ev.Event("takeover", m, nil, "taken over while in delivery")
		q.Kick()
	}
	for _, dm := range dsns {
		q.ev.Event("dsn", dm, &dm.Rcpts[0], "")
	}
	if discard && dsnOwesDiscard {
		q.ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" owed by DSN "+dsns[failDSN].ID.String())
	} else if discard {
		q.ev.Event("discard", m, nil, "discard notification for "+m.ShadowServer+" prepared")
		q.dsig.signal(m.ShadowServer)
	}
	if done {
		q.notifyHanded(m.ID)
	}
	if done && m.State != Shadow {
		q.noteDeparture(m)
		q.notifyGone(m.ID)
	} else if m.State == Shadow && q.OnShadowed != nil && q.hasWaiters(m.ID) {
		for _, r := range m.Rcpts {
			if r.Status == Shadowed {
				q.OnShadowed(r.Primary)
			}
		}
	}
	if len(dsns) > 0 {
		q.Kick()
	}
}

// Policy is the part of the configuration a reload may change.
type Policy struct {
	RetrySchedule     []time.Duration
	RetryJitter       float64
	MessageExpiration time.Duration
	DelayNotification time.Duration
}

func (q *Manager) policy() Policy {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	return Policy{q.cfg.RetrySchedule, q.cfg.RetryJitter, q.cfg.MessageExpiration, q.cfg.DelayNotification}
}

// SetPolicy changes retry and expiry settings; they apply from the next
// attempt on (waits already scheduled stay as they are).
func (q *Manager) SetPolicy(p Policy) {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	if len(p.RetrySchedule) > 0 {
		q.cfg.RetrySchedule = p.RetrySchedule
	}
	q.cfg.RetryJitter = p.RetryJitter
	if p.MessageExpiration > 0 {
		q.cfg.MessageExpiration = p.MessageExpiration
	}
	q.cfg.DelayNotification = p.DelayNotification
}

// backoff is the wait after the n-th failed attempt, with jitter so that
// messages deferred together do not retry in lockstep.
func (p Policy) backoff(n int) time.Duration {
	d := p.RetrySchedule[min(n, len(p.RetrySchedule))-1]
	if j := p.RetryJitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
	}
	return d
}

func dsnKindName(k Notify) string {
	switch k {
	case NotifyFailure:
		return "failed"
	case NotifyDelay:
		return "delayed"
	case NotifySuccess:
		return "delivered"
	}
	return "unknown"
}

// DelivererFunc adapts a function to the Deliverer interface.
type DelivererFunc func(ctx context.Context, m *Message, body []byte, rcpts []int) []Result

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	return f(ctx, m, body, rcpts)
}

// IsSuspended reports whether the operator suspended a queue; the
// deliverer asks it once a recipient is routed, so that new mail for a
// suspended queue waits in it too.
func (q *Manager) IsSuspended(queue string) bool {
	q.qmu.Lock()
	defer q.qmu.Unlock()
	return q.suspended[queue]
}

// WaitGone returns a channel closed once message id has left the queue:
// every recipient delivered, relayed to a non-shadow hop, failed with its
// DSN, or discarded by the primaries that shadowed it — what delayed
// acknowledgement waits for (SR-9). cancel stops waiting.
func (q *Manager) WaitGone(id ID) (gone <-chan struct{}, cancel func()) {
	ch := make(chan struct{})
	q.wmu.Lock()
	q.waiters[id] = append(q.waiters[id], ch)
	q.wmu.Unlock()
	// Registered first, then checked: a removal before the registration
	// is seen here, one after it closes the channel.
	if _, err := q.Message(id); errors.Is(err, ErrNotFound) {
		q.notifyGone(id)
	}
	return ch, func() {
		q.wmu.Lock()
		defer q.wmu.Unlock()
		for i, c := range q.waiters[id] {
			if c == ch {
				q.waiters[id] = append(q.waiters[id][:i], q.waiters[id][i+1:]...)
				break
			}
		}
		if len(q.waiters[id]) == 0 {
			delete(q.waiters, id)
		}
	}
}

func (q *Manager) notifyGone(id ID) {
	q.wmu.Lock()
	chs := append(q.waiters[id], q.handed[id]...)
	delete(q.waiters, id)
	delete(q.handed, id)
	q.wmu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// ClaimFinal is asked by the deliverer before it writes message id into
// rcpt's mailbox in database db. It answers Fresh when the delivery may
// go ahead, and then holds the claim until the attempt's results are
// committed; Duplicate when this transport message (its organisation
// message id, SR-14 — never the sender's Message-ID) already reached that
// mailbox (a copy resubmitted by a takeover, or by a primary back with
// its old database, SR-11); Busy when another copy is being delivered
// there at this moment, so this one must wait and will then be found a
// duplicate. The claim lock is taken before the record is read: a claim
// is released only after the commit that writes the record, so under
// the lock either the claim or the record is seen, never neither.
func (q *Manager) ClaimFinal(id ID, db, orgID, rcpt string) Claim {
	if orgID == "" {
		return Fresh // not reached: PutNew gives every message an org id
	}
	key := db + "\x00" + string(deliveredHash(orgID, rcpt))
	q.cmu.Lock()
	defer q.cmu.Unlock()
	if owner, ok := q.claims[key]; ok {
		if owner != id {
			return Busy
		}
		return Fresh
	}
	seen := false
	_ = q.store.View(func(tx *Tx) error { seen = tx.WasDelivered(db, orgID, rcpt); return nil })
	if seen {
		return Duplicate
	}
	q.claims[key] = id
	q.owned[id] = append(q.owned[id], key)
	return Fresh
}

// Claim is ClaimFinal's answer.
type Claim uint8

// Claims.
const (
	Fresh Claim = iota
	Duplicate
	Busy
)

func (q *Manager) releaseClaims(id ID) {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	for _, k := range q.owned[id] {
		delete(q.claims, k)
	}
	delete(q.owned, id)
}

// WaitHandedOn returns a channel closed once no recipient of message id
// is pending any more: each was delivered, relayed (a next hop took
// ownership, shadowed or not) or failed with its DSN — or the message
// left the queue. The pickup directory deletes a file then (SR-12).
func (q *Manager) WaitHandedOn(id ID) <-chan struct{} {
	ch := make(chan struct{})
	q.wmu.Lock()
	q.handed[id] = append(q.handed[id], ch)
	q.wmu.Unlock()
	if m, err := q.Message(id); errors.Is(err, ErrNotFound) || err == nil && len(m.Pending()) == 0 {
		q.notifyHanded(id)
	}
	return ch
}

func (q *Manager) notifyHanded(id ID) {
	q.wmu.Lock()
	chs := q.handed[id]
	delete(q.handed, id)
	q.wmu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

func (q *Manager) hasWaiters(id ID) bool {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	return len(q.waiters[id]) > 0
}

// DatabaseID is this server's transport database id (shadow verbs, W-2).
func (q *Manager) DatabaseID() string { return q.store.DatabaseID() }

// Discards returns up to max discard notifications owed to a shadow
// server; ack forgets them, and is called only once the peer provably has
// them: the reply was written and the peer spoke again (W-4, SR-15). A
// notification whose ack failed is sent again: a shadow server ignores
// ids it does not know.
func (q *Manager) Discards(server string, max int) ([]string, func()) {
	var ids []string
	_ = q.store.View(func(tx *Tx) error { ids = tx.Discards(server, max); return nil })
	return ids, func() {
		if len(ids) == 0 {
			return
		}
		if err := q.store.Update(context.Background(), func(tx *Tx) error { return tx.DeleteDiscards(server, ids) }); err != nil {
			q.log.Error("forgetting sent discard notifications failed; they will be sent again", "shadow_server", server, "err", err)
		}
	}
}

// pruneDiscards drops notifications no shadow server fetched within the
// message expiration. A shadow copy older than that (and shadowExpiryGrace,
// time for the primary's own expiry and its discard to arrive) was never
// confirmed by its primary: it is taken over and routed now, and bounced
// with a DSN by that attempt's commit when no route takes it — never
// dropped without a trace (SR-13).
func (q *Manager) pruneDiscards(now time.Time) {
	cutoff := now.Add(-q.policy().MessageExpiration)
	var n int
	var stale []*Message
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		var err error
		if n, err = tx.PruneDiscards(cutoff, 10000); err != nil {
			return err
		}
		if _, err = tx.PruneDelivered(now.Add(-q.duplicateWindow()), 10000); err != nil {
			return err
		}
		if _, err = tx.PruneSubmitKeys(cutoff, 10000); err != nil {
			return err
		}
		stale = stale[:0]
		for _, st := range tx.Queues() {
			if !strings.HasPrefix(st.Name, "shadow:") {
				continue
			}
			for _, id := range tx.InQueue(st.Name, 10000) {
				m, err := tx.Get(id)
				if err != nil || m.State != Shadow || !m.Arrived.Before(cutoff.Add(-shadowExpiryGrace)) {
					continue
				}
				if taken, err := expireShadowCopy(tx, m, now); err != nil {
					return err
				} else if taken {
					stale = append(stale, m)
				}
			}
		}
		return nil
	})
	for _, m := range stale {
		q.ev.Event("takeover", m, nil, "shadow copy expired unconfirmed")
	}
	if len(stale) > 0 {
		q.log.Warn("unconfirmed shadow copies expired: taken over", "count", len(stale))
		q.Kick()
	}
	if err != nil {
		q.log.Error("pruning stale discard notifications failed", "err", err)
	} else if n > 0 {
		q.log.Info("stale discard notifications dropped", "count", n)
	}
}

// duplicateWindow is how long final deliveries are remembered.
func (q *Manager) duplicateWindow() time.Duration {
	if q.cfg.DuplicateWindow > 0 {
		return q.cfg.DuplicateWindow
	}
	return q.policy().MessageExpiration
}

func hasShadowed(m *Message) bool {
	for _, r := range m.Rcpts {
		if r.Status == Shadowed {
			return true
		}
	}
	return false
}

// ShadowPrimaries lists the primaries this server holds shadow copies
// for (taken over or not), with the address of each and the send
// connector to log in as ("" inside the organisation), for heartbeats.
func (q *Manager) ShadowPrimaries() (map[string]string, error) {
	peers, err := q.ShadowPeers()
	out := map[string]string{}
	for _, p := range peers {
		out[p.Primary] = p.Addr
	}
	return out, err
}

// ApplyDiscards releases the shadow copies a primary says it has finished
// with (SR-3). Ids this server does not know are ignored, never taken as
// "discard everything" (W-4). A message goes once no recipient is left
// shadowed or pending.
func (q *Manager) ApplyDiscards(primary string, ids []string) (int, error) {
	n := 0
	var gone []*Message
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		var err error
		n, gone, err = q.applyDiscardsTx(tx, primary, ids, q.clk.Now())
		return err
	})
	for _, m := range gone {
		q.ev.Event("discard", m, nil, "shadow copy discarded by "+primary)
		q.notifyGone(m.ID)
	}
	return n, err
}

// Takeover makes this server primary for every copy it shadows for
// primary (SR-6, SR-7): the recipients go back to routing at once.
func (q *Manager) Takeover(primary, reason string) (int, error) {
	now := q.clk.Now()
	var taken []*Message
	var marked int
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		var err error
		if taken, marked, err = tx.takeoverTx(primary, reason, now); err != nil {
			return err
		}
		p, err := tx.Peer(primary)
		if err != nil || p == nil {
			return err
		}
		p.Failures, p.TakenOver = 0, true
		return tx.PutPeer(p)
	})
	if err != nil {
		return 0, err
	}
	for _, m := range taken {
		q.ev.Event("takeover", m, nil, primary+": "+reason)
	}
	n := len(taken) + marked
	if n > 0 {
		q.Kick()
		q.log.Warn("shadow copies taken over", "primary", primary, "messages", n, "reason", reason)
	}
	return n, nil
}

// NewID returns a fresh message id (see Store.NewID).
func (q *Manager) NewID() ID { return q.store.NewID(q.clk.Now()) }

// QueueMerged is the queue named in the event of a recipient merged into
// a queued copy of the same message (Submit).
const QueueMerged = "merged"

type mergedRcpt struct {
	rcpt Recipient
	into ID
}

// mergeHeld finds the recipients of a new message m that a message
// already queued here with the same organisation message id still owes
// (SR-14; issue 20 item 4): a copy resubmitted by a shadow server that
// took over while this server, back with its old database, still has
// the original. Such a recipient is the original's to deliver; relaying
// the copy too would send the message twice. A recipient of the original
// merges when it is still pending here, or shadowed at a primary that is
// not the copy's sender (this server already handed it on, and holds
// its shadow copy). Never merged: a recipient the original relayed,
// delivered or failed, and a shadowed one coming back from its own
// primary — a copy routed back here (a route that changed under way)
// must be delivered, and a loss is worse than a duplicate.
//
// It returns the recipients to keep and the merged ones; discardNow says
// that every recipient merged and the sender's shadow copy
// (m.ShadowServer, m.ShadowID) is not one the original will discard when
// it finishes (another shadow id, or the original has nothing pending),
// so the discard is owed at once.
func mergeHeld(tx *Tx, m *Message) (keep []Recipient, merged []mergedRcpt, discardNow bool) {
	if m.OrgID == "" {
		return m.Rcpts, nil, false
	}
	var held []*Message
	for _, id := range tx.ByOrgID(m.OrgID) {
		if id == m.ID {
			continue
		}
		if o, err := tx.Get(id); err == nil {
			held = append(held, o)
		}
	}
	if len(held) == 0 {
		return m.Rcpts, nil, false
	}
	covered := true // the original's own discard covers the sender's copy
	for _, r := range m.Rcpts {
		var into *Message
		for _, o := range held {
			for _, orc := range o.Rcpts {
				if !strings.EqualFold(orc.Addr, r.Addr) {
					continue
				}
				if orc.Status == Pending ||
					orc.Status == Shadowed && m.ShadowServer != "" && !strings.EqualFold(orc.Primary, m.ShadowServer) &&
						!receiptShadowed(o, orc) {
					into = o
				}
			}
		}
		if into == nil {
			keep = append(keep, r)
			continue
		}
		merged = append(merged, mergedRcpt{rcpt: r, into: into.ID})
		if into.ShadowServer != m.ShadowServer || into.ShadowID != m.ShadowID || len(into.Pending()) == 0 {
			covered = false
		}
	}
	discardNow = len(keep) == 0 && m.ShadowServer != "" && m.ShadowID != "" && !covered
	return keep, merged, discardNow
}
