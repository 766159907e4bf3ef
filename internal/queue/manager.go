package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"umbra/internal/clock"
	"umbra/internal/panicline"
)

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
	// DiscardsSent, if set, is told of the discard notifications (full,
	// partial, delay notes) a shadow server acknowledged, each once
	// when it is forgotten here, however often it was handed before
	// (umbra_shadow_discards_sent_total).
	DiscardsSent func(n int)
	// Takeovers, if set, is told of each takeover the queue makes on a
	// path no shadow manager session reports (logTakeover: a restored
	// primary's XQUERYTAKENDONE, a push under a new database id, a
	// rolled-back database's mark), with the copies it took over
	// (umbra_shadow_takeovers_total and resubmitted messages, as the
	// shadow manager's Observer.Takeover counts its own).
	Takeovers func(messages int)
	// Dumpster, when set, keeps copies of final deliveries.
	Dumpster Keeper
	// DuplicateWindow is how long a final delivery is remembered to
	// suppress a resubmitted copy (SR-11); default MessageExpiration.
	DuplicateWindow time.Duration
	// BounceSizeLimit caps the original content a DSN returns (bytes;
	// default 50 KiB): see BuildDSN.
	BounceSizeLimit int64
	// Inside is where the organisation ends: DSNs name no host of it
	// (Remote-MTA; dsnReporter). SetPolicy changes it.
	Inside Inside
	// Scheduler sets the per-destination concurrency windows.
	Scheduler SchedulerConfig
	// Health is the record of servers that did not answer, shared with
	// the deliverer; nil makes a new one.
	Health *Health
	// Claims is the record of final deliveries in flight, shared with
	// the deliverer (delivery.Config.Dedup); nil makes a new one.
	Claims *FinalClaims
	// QuarantineExpiration (default 15 days) and QuarantineDSN: the
	// expiry of quarantined mail (quarantine.go).
	QuarantineExpiration time.Duration
	QuarantineDSN        bool
	// SuspectTurn bounds how long one suspect's attempt keeps the
	// suspects' turn (suspectgate.go; default DefaultSuspectTurn).
	SuspectTurn time.Duration
	// Panics counts the recovered panics of the queue's goroutines
	// (panics.go); nil counts none.
	Panics PanicObserver
	// PickupFileGone, when set, says whether the file NAME.<id>.queued a
	// recorded pickup end names (NAME.eml, pickupfate.go) is surely gone
	// from the pickup directory. An end older than message_expiration is
	// forgotten only when it says so: a file left by a crash between the
	// end and its removal is never submitted again, however long the
	// server was down. Nil keeps every end.
	PickupFileGone func(id ID, name string) bool
	// PickupKeyGone, when set, says whether the pickup file name
	// (NAME.eml) a pickup submission's key names is surely gone from the
	// pickup directory, or is another drop than the one submitted under
	// key. A key older than message_expiration is forgotten only when it
	// says so: an unmarked file that lingers (its rename to .queued
	// failed) is never submitted twice. Nil keeps every such key
	// (pickupkeys.go).
	PickupKeyGone func(name, key string) bool
}

// Manager is the queue manager: the only scheduler. It claims due
// messages from the time index into a bounded active set, hands each to
// the Deliverer, and commits each attempt's results in one transaction
// together with the DSNs they cause (what a job finished while others
// of the attempt still run, when that job ends: jobcommit.go).
type Manager struct {
	// evOrder: the events of a message written in the order of the
	// commits that made them (eventorder.go).
	evOrder eventOrder

	// notTopologyWarned: the names and ids a session presented under a
	// name that is no server of the topology, warned of once each
	// (ShadowHolderSeenStated).
	notTopologyWarned sync.Map

	// retryNext: per message, the next attempt an operator's retry
	// replaced (keepRetryNext), until the attempt it made due ends.
	retryNext sync.Map
	// untrackedMarks: the messages whose mark MarkSingleCopyUntracked
	// made new, whose "single-copy" event TrackSingleCopy writes once.
	untrackedMarks sync.Map
	pickupEndPrune pickupPrune // pickupfate.go, pickupprune.go
	pickupKeyPrune pickupPrune // pickupkeys.go, pickupprune.go
	store          *Store
	// forgetting: discard notifications acknowledged whose forgetting
	// has not committed yet (forgetsent.go).
	forgetting forgetting
	// restoredFor, restoredLatest: the restore's mark and the latest
	// arrival of a copy it brought back (endRestored, heldquery.go).
	restoredMu     sync.Mutex
	restoredFor    ID
	restoredLatest time.Time
	// restoredAsk: a restored database's question to every transport
	// server before its first takeover (restoredhanded.go).
	restoredAsk restoredAsk
	pushAsk     pushAskBound // receiptpushasked's bound (pushcrash.go)
	// servers is the topology (SetServers), for which server a record
	// kept under a send connector's host name was made against.
	servers atomic.Pointer[Servers]
	// expiryKeeper says why the expired copies of a primary are kept
	// rather than taken over (SetExpiryKeeper; nil: none kept).
	expiryKeeper atomic.Pointer[func(primary string) string]
	// unclaimed: lower-cased names whose owed notifications no server
	// of the topology claims, warned of (holdernames.go).
	unclaimed sync.Map
	// inDelivery: the attempt of each message in delivery here (ID →
	// *attempt, from start to the end of complete), for what arrives
	// while it runs and must reach its end: a delay note (delaynote.go).
	inDelivery sync.Map
	// claimFailed: the last claim failed (the run loop waits
	// claimRetry); claimLogged, claimFailures: when a failed claim was
	// last logged and how many failed since. The run loop's alone.
	claimFailed   bool
	claimLogged   time.Time
	claimFailures int
	// claimTrouble: since when claims fail, how many and the last
	// error, for the operator's listings (ClaimTrouble); nil while
	// claims commit. Written by the run loop, read by the admin API.
	claimTrouble atomic.Pointer[ClaimTrouble]
	// claimShrink: a claim's commit failed for want of room (a full
	// disk: its copies of the pages it writes need new ones); the next
	// claims take the due messages' count halved that many times, one
	// at least, and every claimGrowAfter claims that commit in a row
	// take one halving back — so
	// a restart on a full disk claims what fits, delivers it, and frees
	// the pages the rest needs, instead of failing the same batch every
	// second. The run loop's alone.
	claimShrink int
	claimGrown  int // claims committed in a row since the last halving or its taking back (claimGrowAfter)
	// claimNoRoom: messages whose claim alone failed for want of room
	// (a record larger than the free pages of a full disk allow, while
	// smaller ones fit); the next claims pass over them, so that the
	// messages due behind them are delivered and free pages, until
	// nothing else is due or claimLogEvery passed since the first
	// (claimNoRoomSince), when they are tried again. Never dropped:
	// they stay due. The run loop's alone.
	claimNoRoom      map[ID]struct{}
	claimNoRoomSince time.Time
	// draining: the stop began (Drain); no delivery attempt starts.
	draining atomic.Bool
	// stopped: the scheduler's loop ended (run): a withdrawal put back
	// after it sends its jobs back itself (withdraw.go).
	stopped atomic.Bool
	// strandedSet: attempts whose ending commit failed (stranded.go).
	strandedSet stranded
	panics      panicState     // recovered panics (panics.go)
	pending     pendingResults // attempts' results whose commit failed (pendingresults.go)
	// confirmErrLog paces the ERROR of a failed note of a confirmed
	// copy on receipt (pushcrash.go confirmFailed).
	confirmErrLog panicline.Gate
	del           Deliverer

	// recovery: what Recover read once, and whether its commit still
	// waits for room (recoverlater.go).
	recovery recovery
	// settling: attempts that made no connection, until their results'
	// commit (settling.go).
	settling settling

	// suspects is the one turn for a suspect's attempt to run
	// (suspectgate.go, "Suspects").
	suspects suspectGate
	stall    *stallGuard // GuardStall: new attempts wait for a round after a stall (stallguard.go)
	cfg      ManagerConfig
	clk      clock.Clock
	log      *slog.Logger
	ev       Events

	// loopPasses counts the scheduler loop's passes (run): a test finds
	// a loop that comes round without waiting.
	loopPasses atomic.Int64

	// released: ids released from quarantine (quarantine.go).
	released releasedSet

	kick    chan struct{}
	sched   *scheduler // per-destination queues and windows (scheduler.go)
	workers jobWorkers // the goroutines delivery jobs run on (workers.go)

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

	// tasks: the clients the scheduler steps (shadow redundancy), the
	// tasks they run and the primaries senders wait on (tasks.go).
	tasks tasks
	dsig  discardSignals // shadow sessions waiting for a discard notification
	// answered: when each primary last completed a session with this
	// server (answered.go); a heartbeat cut off before then takes
	// nothing over.
	answered answeredAt

	fc *FinalClaims // final deliveries in flight (finalclaims.go)

	// deferHook, when set (tests only), runs in commitResults once it
	// decided to set a commit aside, before the commit is queued.
	deferHook atomic.Pointer[func(*Message)]

	peersFound atomic.Bool   // shadow queues of an older database got their peer records
	badPeers   damagedPeers  // peer records that do not decode (damagedpeer.go)
	rolledBack atomic.Uint64 // rolled-back primaries found (marks.go)
	staleEarly atomic.Uint64 // copies kept over a discard judged stale (staleearly.go)
	// rollbackNotes: the last rollback found per primary (PrimaryKey →
	// RollbackNote), for shadow list's WHY (rollbacknote.go).
	rollbackNotes sync.Map
	expiredKept   atomic.Int64 // expired copies the last expiry pass kept (shadowprimary.go: ExpiredKeptCopies)
	// refusedNextHops: lower-cased primary ‖ 0 ‖ address ‖ 0 ‖ database
	// id of next hops whose id, kept as another server's, was warned of
	// (shadowTransitions): once per process, not per relayed message.
	refusedNextHops sync.Map

	// suspendMu serialises SuspendQueue and ResumeQueue, each a commit
	// and then the change in memory: without it a suspend and a resume
	// that overlap could leave memory (what attempts see) saying
	// suspended and the store (what a hold's commit reads) not, and a
	// message would go round held and due again.
	suspendMu sync.Mutex
	qmu       sync.Mutex
	suspended map[string]bool          // queues the operator suspended (persisted)
	runtime   map[string]*queueRuntime // per-queue last error and rates (in memory)

	qcap quarCap // the quarantine's bound (quarcap.go)
	// qstats: the quarantine's totals for its gauges (QuarantineStats)
	qstats quarStats
}

// NewManager returns a manager over store. Call Start to run it.
func NewManager(store *Store, del Deliverer, cfg ManagerConfig) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	store.clk.Store(&cfg.Clock)
	store.setPeerLog(cfg.Log) // the retired database ids the bound forgets (retiredbound.go)
	if len(cfg.RetrySchedule) == 0 {
		cfg.RetrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = 1000
	}
	if cfg.PoisonThreshold <= 0 {
		cfg.PoisonThreshold = 2
	}
	if cfg.SuspectTurn <= 0 {
		cfg.SuspectTurn = DefaultSuspectTurn
	}
	if cfg.MessageExpiration <= 0 {
		cfg.MessageExpiration = 48 * time.Hour
	}
	if cfg.Events == nil {
		cfg.Events = nopEvents{}
	}
	if cfg.Health == nil {
		cfg.Health = NewHealth()
	}
	cfg.Scheduler.defaults()
	cfg.Health.SetProbeEvery(cfg.Scheduler.DeadCoolDown) // a marked server is probed as a dead destination revives
	if cfg.Claims == nil {
		cfg.Claims = NewFinalClaims(store)
	}
	if cfg.BounceSizeLimit <= 0 {
		cfg.BounceSizeLimit = 50 << 10 // config.DefaultBounceSizeLimit
	}
	q := &Manager{store: store, del: del, cfg: cfg, clk: cfg.Clock, log: cfg.Log, ev: cfg.Events,
		kick: make(chan struct{}, 1), sched: newScheduler(cfg.Scheduler), suspended: map[string]bool{}, runtime: map[string]*queueRuntime{},
		waiters: map[ID][]chan struct{}{}, handed: map[ID][]chan struct{}{},
		fc: cfg.Claims}
	q.pickupEndPrune.of = pickupEndsPruned(cfg.PickupFileGone)
	q.pickupKeyPrune.of = pickupKeysPruned(cfg.PickupKeyGone)
	q.answered.start = cfg.Clock.Now() // contacts before a restart are forgotten: the start stands for them
	_ = store.View(func(tx *Tx) error {
		for _, name := range tx.Suspended() {
			q.suspended[name] = true
			if DeliveryType(name) == "shadow" {
				// Stored by a release that took it (CheckQueueAction).
				q.log.Warn("a shadow queue is suspended: copies taken over from its primary will wait, the only copy of their mail; umbra queue resume "+name,
					"queue", name)
			}
		}
		return nil
	})
	store.early.Store(q) // the discards kept aside that a commit applies are tracked (earlydiscardevent.go)
	return q
}

type nopEvents struct{}

func (nopEvents) Event(string, *Message, *Recipient, string) {}

// Recover runs once before Start: messages held back on "destination
// busy" (throttled) are due at once, since the scheduler state that held
// them back is gone, as are taken-over copies an earlier release parked
// on a hold in their shadow queue (releaseShadowHolds); and every message still marked Active was
// in the active set when the server stopped without finishing it. Such a
// message counts one crash only if umbra's own code was running on it
// then, as its peer-wait slot says (peerwait.go) — or, when the slot
// file cannot be trusted, every such message counts; at PoisonThreshold
// crashes it goes to the poison queue (tracked and counted as the event
// "poison"). Every one of them is due at once otherwise. Each is marked
// (markRepeat): its delivery keeps a dumpster copy even when the mailbox
// already has the message, from the attempt the stop cut short.
// When its commit fails for want of room it returns ErrRecoveryWaits
// (wrapping the cause): the server may start, and the run loop tries
// the commit again (recoverlater.go).
func (q *Manager) Recover(ctx context.Context) (recovered, poisoned int, err error) {
	now := q.clk.Now()
	first := q.recovery.begin(func() (peerWaitRead, []byte) {
		return q.store.takePeerWaits(peerWaitMaxSlots(q.cfg.MaxActive), q.log),
			q.store.peerWaitRun(q.log) // the file started afresh for this run; nil: off
	})
	slots, run := q.recovery.slots, q.recovery.run
	var moved, took, again []*Message
	counted, stopped, shadowHolds, inDelivery := 0, 0, 0, 0
	err = q.store.Update(ctx, func(tx *Tx) error {
		recovered, poisoned, moved, took, again, counted, stopped = 0, 0, moved[:0], took[:0], again[:0], 0, 0
		// The next start trusts the slot file only if it is this run's.
		meta := tx.tx.Bucket(bucketMeta)
		if err := meta.Delete(keyPeerWaitRun); err != nil {
			return err
		}
		if run != nil {
			if err := meta.Put(keyPeerWaitRun, run); err != nil {
				return err
			}
		}
		active := map[ID]bool{}
		// The messages Active at the start, read once: a retry
		// (recoverlater.go) runs beside this run's scheduler, whose
		// own Active messages are in delivery, not cut by a stop.
		ids := q.recovery.activeAtStart(tx)
		inDelivery = len(ids)
		for _, id := range ids {
			m, err := tx.Get(id)
			if !first && (errors.Is(err, ErrNotFound) || err == nil && m.State != Active) {
				continue // settled since by an operator's command
			}
			if err != nil {
				return fmt.Errorf("recover %s: %w", id, err)
			}
			active[id] = true
			if slots.counts(id) {
				m.CrashCount++
				counted++
			} else if slots.stopped[id] {
				stopped++ // cut by the operator's immediate stop (StopAtOnce): umbra stopped, nothing crashed
			}
			if m.CrashCount >= q.cfg.PoisonThreshold {
				// The poison queue is a hold the operator sees (hold.go):
				// its shadow copy is settled in this commit, as a
				// suspend settles it, so that no holder takes it over at
				// its expiry and delivers behind the operator's verdict
				// — unless the body here does not read whole: then the
				// copy is the sound one (handback.go).
				if err := settlePoisonCopy(tx, m, now); err != nil {
					return err
				}
				m.State = Poison
				m.LastError = fmt.Sprintf("in flight during %d crashes while umbra processed it", m.CrashCount)
				poisoned++
				moved = append(moved, m)
			} else {
				m.State, m.NextAttempt = Ready, now
				recovered++
				again = append(again, m)
			}
			if t, err := putLeavingTook(tx, m); err != nil { // with takeovers kept aside while it was in flight
				return err
			} else if t {
				took = append(took, m)
			}
			// Its attempt may have written into a mailbox before the
			// commit that did not come: a copy found there is kept in
			// the dumpster (dumpster.go, markRepeat).
			if err := tx.markRepeat(id); err != nil {
				return err
			}
		}
		// The discards kept aside for copies the lost attempts made are
		// spent (earlyspent.go): applied above to every copy recorded,
		// never to the copies the next attempts make.
		if _, err := tx.dropSpentEarlyDiscards(active); err != nil {
			return err
		}
		// A taken-over copy an earlier release parked on a hold in its
		// shadow queue, where no resume finds it: its attempt now holds
		// it in the suspended queue, or sends it.
		if shadowHolds, err = releaseShadowHolds(tx, now); err != nil {
			return err
		}
		// Held back on "destination busy" by the scheduler of the run
		// that stopped: its verdict (a recheck estimated from what the
		// destination held) died with that run's memory.
		return q.rescheduleHeld(tx, now)
	})
	if err == nil && shadowHolds > 0 {
		q.log.Warn("taken-over copies held in their shadow queue by an earlier release are due now: a resume of the queue holding them could not find them",
			"messages", shadowHolds)
	}
	if err != nil && isNoSpace(err) {
		// The disk is full: the server runs without this commit (it
		// refuses new mail as a full disk makes it, and delivers what
		// is Ready), and the run loop tries it again (recoverlater.go).
		q.recovery.wait(now)
		if first {
			q.markCutPushes(ctx) // a commit of its own, about pushes the stop cut: only now, before this run's
		}
		return 0, 0, &RecoveryWaitsError{InDelivery: inDelivery, Err: err}
	}
	if err == nil {
		q.recovery.done()
	}
	if err == nil && !slots.trusted && (!slots.missing || counted > 0) {
		q.log.Warn("peer-wait slot file not trusted: every message in delivery at the stop counts a crash",
			"reason", slots.why, "counted", counted)
	}
	if err == nil && stopped > 0 {
		q.log.Info("deliveries the last stop cut at once (a second signal) are due now: "+
			stopReply+"; no crash counted", "messages", stopped)
	}
	if err == nil {
		for _, m := range took {
			q.trackTakeover(m)
		}
		for _, m := range moved {
			q.log.Warn("message moved to the poison queue", "msg_id", m.ID.String(), "reason", m.LastError)
			q.ev.Event("poison", m, nil, m.LastError)
		}
		// What the stopped attempts handed on has no committed result:
		// it goes again (a duplicate at a next hop; a mailbox drops it).
		for _, m := range again {
			q.repeatEvents(m, "attempted again: in delivery at the last stop, its results never committed")
		}
		if len(again) > 0 {
			q.log.Warn("messages in delivery at the last stop are attempted again: their next hops may get them twice",
				"messages", len(again))
		}
		if first {
			q.markCutPushes(ctx) // pushcrash.go
		}
	}
	return recovered, poisoned, err
}

// Start runs the scheduler until ctx ends. Wait returns when every
// attempt it started has committed its results and every task of its
// clients has returned. The clients (shadow redundancy's timing) are
// stepped on the scheduler's loop: see tasks.go.
func (q *Manager) Start(ctx context.Context, clients ...Client) {
	q.tasks.mu.Lock()
	q.tasks.clients = clients
	q.tasks.next = make([]time.Time, len(clients))
	q.tasks.want = make([]time.Duration, len(clients))
	q.tasks.mu.Unlock()
	q.holdDamagedSpool()    // spoolcheck.go: before anything is claimed
	q.restoreHealth(ctx)    // healthrestore.go: failing destinations shown as such after a restart
	q.restoreSuspended(ctx) // healthrestore.go: a suspended queue's destination shown after a restart
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.runOrCrash(ctx, q.run)
	}()
	if q.stall != nil {
		q.stall.mu.Lock()
		q.stall.last = q.awake() // the time before the start is no stall
		q.stall.mu.Unlock()
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			q.runOrCrash(ctx, q.runStallGuard) // stallguard.go
		}()
	}
}

// Wait blocks until the scheduler and every attempt have finished.
func (q *Manager) Wait() {
	q.wg.Wait()
	q.flushPendingResults() // pendingresults.go: the last try before the stop
	q.workers.close()
}

// Drain begins the stop (serve calls it at SIGTERM, before the drain of
// sessions): from its call on no delivery attempt starts — no message is
// claimed, a message submitted is stored Ready and due (receipts in
// progress still commit; the next start delivers it), a claimed message
// or a job not started yet goes back unattempted (due now, no attempt
// counted), jobs waiting for a window included — while the attempts
// already running go on and commit their results until the context
// given to Start ends. The shadow clients' tasks are not attempts: they
// run until then too.
func (q *Manager) Drain() {
	q.draining.Store(true)
	q.Kick()
}

// stopping reports whether no delivery attempt may start: the stop
// began (Drain) or the context ended.
func (q *Manager) stopping(ctx context.Context) bool {
	return ctx.Err() != nil || q.draining.Load()
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

// NewID returns a fresh message id (see Store.NewID).
func (q *Manager) NewID() ID { return q.store.NewID(q.clk.Now()) }
