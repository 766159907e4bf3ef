package shadow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"umbra/internal/clock"
	"umbra/internal/mailaddr"
	"umbra/internal/panicline"
)

// Primary is what the store keeps of one primary (SPEC SR-13): the
// manager's decisions are made from it, so they survive a restart.
type Primary struct {
	Name string
	// Addr is where heartbeats go ("host:port" or "host:port via CONNECTOR").
	Addr        string
	DatabaseID  string
	LastContact time.Time
	// LastTry is when the last failed heartbeat started.
	LastTry  time.Time
	Failures int
	// TakenOver: the copies were taken over; the primary stays watched
	// while they are here.
	TakenOver bool
	// TakeoverFailures: the count of failed heartbeats that made the
	// takeover (0: not known); Failures stays at it while it stands (the
	// store stops counting: one number everywhere, shadowrt35 F3).
	TakeoverFailures int
	// UrgentUntil: until then a sender waits for this primary's discard
	// of a copy held here (delayed acknowledgement, SR-9) or the primary
	// pushed a copy on receipt (SR-17): the queue keeps it; a watch
	// session runs while it lies ahead. Zero when nobody waits.
	UrgentUntil time.Time
	// LastHeard is the last contact of any kind with the primary (the
	// store's memory; its start after a restart): no takeover for failed
	// heartbeats comes before timeout × retries after it (HeartbeatFailed).
	LastHeard time.Time
	// Heard is the last contact of any kind with the primary noted since
	// this server's start (a copy it pushed, a session of its own, an
	// XSHADOW reply with the stored id); zero when none. Shown as the
	// last contact when later than LastContact (Status).
	Heard time.Time
	// Pushed is when the primary last handed discards here on a session
	// of its own (XDISCARD) since this server's start; zero when none.
	Pushed time.Time
}

// ContactResult is what the store changed on a contact.
type ContactResult struct {
	OldDatabaseID string // set when the primary presented a new database id
	TakenOver     int
	Discarded     int
	Retried       int // taken-over copies made due again
	// SameDatabase (PresentedDigest): the digest presented is the one
	// of the database id stored for the primary — the session reached
	// the server whose copies these are.
	SameDatabase bool
}

// Store is the part of the queue the manager needs. Each call is one
// commit: the primary's state changes together with the copies.
type Store interface {
	// Primaries lists every primary copies are held for, taken over or not.
	Primaries() ([]Primary, error)
	// Contact records a successful session with its discard
	// notifications: a database id other than the stored one takes every
	// copy over (SR-7); otherwise the discards are applied (SR-3).
	// mark is the rollback mark the reply listing discards presented
	// (0 for none): the mark they were made under, which an early one
	// is kept under (queue AddEarlyDiscard).
	Contact(primary, dbID string, mark uint64, discards []string) (ContactResult, error)
	// Presented records what a session learned without completing a
	// discard query: the database id of its XSHADOW reply (another id
	// than the stored one takes every copy over, SR-7) and the
	// notifications of the batches it read before it broke (applied,
	// SR-3). It is not a contact: the heartbeat timer stays as it is
	// (SR-5). mark as for Contact.
	Presented(primary, dbID string, mark uint64, discards []string) (ContactResult, error)
	// HeartbeatFailed counts a failed heartbeat that started at started
	// and takes the copies over at retries consecutive failures (SR-6).
	// When the primary completed a session with this server after
	// started, it counts nothing, takes nothing over and returns
	// ErrAnsweredSince, decided in the commit that would take over.
	// Within timeout × retries of the last contact of any kind with the
	// primary (or of the store's start) it counts the failure, takes
	// nothing over and returns ErrTakeoverDeferred.
	HeartbeatFailed(primary string, started time.Time, timeout time.Duration, retries int, reason string) (failures, taken int, err error)
}

// ErrTakeoverDeferred is HeartbeatFailed's answer for a failure that
// reached the retry count less than timeout × retries after the last
// contact of any kind with the primary: counted, nothing taken over yet
// (the next failed heartbeat past the bound takes the copies over).
var ErrTakeoverDeferred = errors.New("the primary was heard from less than timeout × retries ago: takeover deferred")

// ErrTakenOverAlready is HeartbeatFailed's answer in place of
// ErrTakeoverDeferred when the primary's copies were taken over before:
// the failure is counted; no takeover is to come, it is done (rt46).
var ErrTakenOverAlready = errors.New("the primary's copies are taken over already")

// ErrDisowned is HeartbeatFailed's answer for a primary that refused
// this server's transport database as another server's (DisownStore):
// the failure is counted, nothing is taken over — the refusal stands
// through the primary's outage (rt27a F2).
var ErrDisowned = errors.New("the primary refused this server's transport database as another server's: its copies are not taken over")

// DisownStore is a Store that keeps, across restarts, that a primary
// refused this server's session as presenting another server's
// transport database id (this server runs a copy of another's data
// dir): its copies, stale, are never taken over for failed heartbeats,
// until a session of this server is let in there (queue disowned.go).
type DisownStore interface {
	Disowned(primary, reply string) error
}

// DisownReader is a Store that reads that refusal back for Status: the
// reply ("" when the primary did not refuse this server so, or let a
// session in or pushed a copy since) and the earliest expiry of the
// copies held for it — the only takeover while it stands (shfix27 F4).
type DisownReader interface {
	DisownedUntil(primary string) (reply string, expiry time.Time)
}

// disownsThisServer reports whether a primary's refusal says this
// server's transport database id is another server's there (the reply
// of umbra's XSHADOW check, smtp verbs.go: "550 5.7.1 Database id … is
// another server's here; nothing changed").
func disownsThisServer(reply string) bool {
	return strings.Contains(reply, " is another server's here")
}

// ErrAnsweredSince is HeartbeatFailed's answer for a heartbeat that
// failed after the primary completed another session with this server
// (it was stopped or slow while the heartbeat waited, and is back): no
// failure, no takeover.
var ErrAnsweredSince = errors.New("the primary completed a session with this server after the heartbeat began")

// AnswerStore is a Store that is told of completed sessions with a
// primary that are no discard query (a reconciliation): a heartbeat
// that began before one and fails takes nothing over.
type AnswerStore interface {
	Answered(primary string)
}

// Heartbeater opens a session to a primary only to query discard
// notifications (W-5). It hands every batch of notifications to save
// before it sends its next command (the next XQUERYDISCARD or QUIT):
// that command is the primary's proof that this server has them, after
// which the primary forgets them (SR-15), so they must be committed here
// first — a crash in between would otherwise strand the copies they
// name. save is called with the database id and a batch; contact is true
// for the batch that completes the query (fewer than asked for), false
// for a full batch with more to come. A save that fails ends the session
// without another command (the primary sends the batch again) and is
// returned as it is.
type Heartbeater interface {
	Heartbeat(ctx context.Context, primary, addr string, save Save) error
}

// Save records what a session with a primary learned — the database id
// of its XSHADOW reply (discards nil, contact false), or a batch of
// discard notifications (contact: a completed discard query) — in one
// commit, and returns once it is durable. A session calls it before it
// sends its next command to the primary (SR-15). mark is the rollback
// mark the reply that listed the batch presented (the XQUERYDISCARD
// reply's MARK=; 0 for none): the discards were made under it, and an
// early one is kept under it, not under a higher mark another session's
// copy stored meanwhile (queue AddEarlyDiscard).
//
// It is an alias of the plain func type, so that the deliverer implements
// Heartbeater, Watcher and Reconciler without importing this package.
type Save = func(dbID string, mark uint64, discards []string, contact bool) error

// DigestStore is implemented by a Store that can judge the database
// digest a primary advertised before a session logged in (the EHLO
// keyword XSHADOWDB): PresentedDigest takes every copy held for the
// primary over at once when the stored database id has another digest
// (SR-7), in one commit, and changes nothing else; it reports in
// SameDatabase whether the digest is the stored id's (false for "" and
// for a primary whose id is not stored).
type DigestStore interface {
	PresentedDigest(primary, digest string) (ContactResult, error)
}

// DatabaseDigester is implemented by a Refusal that carries the database
// digest the primary advertised before it refused the session ("" when
// it advertised none).
type DatabaseDigester interface {
	DatabaseDigest() string
}

// Refusal is implemented by the error of a session that the primary
// answered with a permanent refusal (a 5xx reply: this server did not
// log in, or its account has no right to the shadow verbs). Refusal
// returns the primary's reply. Such a primary is alive: a refused
// heartbeat is not counted as a failed one (no takeover, SR-6), and is
// logged at WARN with the reply — when the session presented the digest
// of the primary's stored database id (DatabaseDigester); otherwise it
// was not the primary that refused, and the heartbeat failed (doc.go:
// Judging a refusal).
type Refusal interface {
	error
	Refusal() string
}

// SaveError is a Save's failure as a session returns it: this server's
// store failed, not the primary.
type SaveError struct{ Err error }

func (e *SaveError) Error() string { return "saving what the primary sent: " + e.Err.Error() }
func (e *SaveError) Unwrap() error { return e.Err }

// LocalFault is a session's failure of this server's own making (a
// panic in its code, recovered): like a SaveError that is no refused
// contact, it says nothing of the primary, so no failed heartbeat is
// counted against it, and a watch session's failure marks it neither
// unreachable nor failing. Its copies are still taken over at their
// expiry.
type LocalFault interface {
	error
	LocalFault()
}

// localErr marks err, a heartbeat's end of this server's own making
// (its store failed), as a LocalFault for the scheduler.
type localErr struct{ error }

func (localErr) LocalFault()     {}
func (e localErr) Unwrap() error { return e.error }

// isLocalFault reports whether err is a LocalFault.
func isLocalFault(err error) bool {
	var local LocalFault
	return errors.As(err, &local)
}

// Observer counts what the manager does (metrics).
type Observer interface {
	// Heartbeat counts regular heartbeats the primary completed (ok) or
	// did not (failed), not the watch sessions of Expedite; a refused
	// heartbeat is neither, it is counted by Refused.
	Heartbeat(ok bool)
	DiscardsReceived(n int)
	Takeover(messages int)
	// Refused counts a session a primary refused, by kind (Sessions).
	Refused(session string)
}

type nopObserver struct{}

func (nopObserver) Heartbeat(bool)       {}
func (nopObserver) DiscardsReceived(int) {}
func (nopObserver) Takeover(int)         {}
func (nopObserver) Refused(string)       {}

// Runner runs the manager's sessions: the scheduler (queue.Manager),
// which starts each as a job of a destination with a window of max (1:
// one heartbeat, one watch session per primary at a time), counts it
// there and reports false — without calling fn — when the window is full
// or it stopped. fn's error is the session's failure as the destination's
// window sees it.
type Runner interface {
	StartTask(ctx context.Context, dest, queue string, max int, fn func(context.Context) error) bool
}

// Destinations of the manager's sessions in the scheduler.
const (
	HeartbeatDest = "shadow:"       // + primary: heartbeats, window 1
	WatchDest     = "shadow-watch:" // + primary: watch sessions, window 1
)

// shadowQueue is the queue a primary's sessions are shown with: its
// shadow queue (shadow:PRIMARY), where the copies held for it are listed.
func shadowQueue(primary string) string { return "shadow:" + primary }

// goRunner runs every session in a goroutine of its own: a manager no
// scheduler drives (the package's tests step it by hand).
type goRunner struct{ wg *sync.WaitGroup }

func (r goRunner) StartTask(ctx context.Context, _, _ string, _ int, fn func(context.Context) error) bool {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = fn(ctx)
	}()
	return true
}

// Config configures a Manager.
type Config struct {
	Timeout time.Duration // shadow_heartbeat_timeout
	Retries int           // shadow_heartbeat_retry_count
	// CommandTimeout bounds one heartbeat session as a whole (a hung
	// primary answers nothing: one command timeout); default Timeout.
	CommandTimeout time.Duration
	Clock          clock.Clock
	Log            *slog.Logger
	Store          Store
	// Heartbeater speaks SMTP to the primaries (the deliverer), given at
	// construction: the manager is built after it.
	Heartbeater Heartbeater
	Observer    Observer
	// Recorder records what sessions learn (Contact, Presented); the
	// deliverer is given the same one, built before both. Nil makes one
	// over Store, Observer and Log.
	Recorder *Recorder
	// Runner is the scheduler that runs the sessions; nil runs each in
	// a goroutine of its own (see goRunner).
	Runner Runner
}

// Timing is the part of Config a reload may change.
type Timing struct {
	Timeout        time.Duration
	Retries        int
	CommandTimeout time.Duration
}

// inForce is t as the manager applies it: at least one retry, a
// heartbeat bounded by the command timeout, at most the heartbeat
// timeout (the timeout itself when none is set).
func (t Timing) inForce() Timing {
	if t.Retries < 1 {
		t.Retries = 1
	}
	if t.CommandTimeout <= 0 || t.CommandTimeout > t.Timeout && t.Timeout > 0 {
		t.CommandTimeout = t.Timeout
	}
	return t
}

// TakeoverDelay is how long after the last contact with a primary its
// copies are taken over for failed heartbeats with these settings:
// timeout × retries (after), and one heartbeat's bound more when the
// primary hangs — accepts connections but never answers (hung). README
// (Heartbeats and takeover); config check prints them.
func (t Timing) TakeoverDelay() (after, hung time.Duration) {
	t = t.inForce()
	after = time.Duration(t.Retries) * t.Timeout
	return after, after + t.CommandTimeout
}

// Manager tracks the primaries this server shadows for. Its memory is a
// cache of the store (Status); decisions read the store.
type Manager struct {
	cfg    Config
	rec    *Recorder
	mu     sync.Mutex
	timing Timing
	known  []Primary            // as last read from the store
	flight map[string]time.Time // sessions in flight: flightKey → deadline
	urgent map[string]time.Time // primaries senders wait on (Expedite, UrgentUntil), until when
	wg     sync.WaitGroup       // sessions of the goRunner
	// watching lists the primaries with a watch session (watch.go);
	// runCtx is the context of the scheduler's steps, which those
	// sessions live in.
	watching map[string]bool
	runCtx   context.Context
	// watchHeld: the next step makes urgent every primary copies are
	// held for (not taken over), so that each gets a watch session —
	// set at the start and by WatchHeld (a reload). The urgency of a
	// hand-off is memory: copies held across a restart would otherwise
	// wait for the next hand-off to that primary, their discards for
	// the next heartbeat (watch40 item 1).
	watchHeld bool
	// reloaded is when WatchHeld was last called (a reload): a refusal
	// before it holds no watch session (startWatch).
	reloaded time.Time
	// listLog paces the ERROR of a step whose listing of the primaries
	// failed: a step comes every second at the shortest timeout.
	listLog panicline.Gate
	// recordLog paces the ERROR of a failed heartbeat that could not be
	// recorded (a full disk: the takeover's commit; rt42 F3): one line
	// at once per episode, then at most one a minute with suppressed=N.
	// An episode ends after a quiet period (panicline.Interval with no
	// line), not at the next record that goes through: a flapping disk
	// logged one ERROR per heartbeat (poison45 item 2).
	// Under mu. recordFailing is, per primary, the error of its last
	// failed heartbeat that could not be recorded, until one is (Status:
	// the takeover waits, not "due"). Memory only.
	recordLog     panicline.Gate
	recordFailing map[string]string
	// watchDown is when the last try of a watch session failed, per
	// primary whose watch waits out a pause (watch.go: watchPause);
	// watchWake ends that pause — a step that finds a contact with the
	// primary recorded since sends on it.
	watchDown map[string]time.Time
	watchWake map[string]chan struct{}
	// reconciled is when each primary was last asked about old copies,
	// reconciling those asked now, cursor where the next question starts
	// (reconcile.go). Memory only: a restart asks at once.
	reconciled  map[string]time.Time
	reconciling map[string]bool
	cursor      map[string]uint64
	// restoredAsked is when the store was last asked whether a restored
	// copy waits for each primary (restoredDue): at most once a
	// heartbeat interval, not at every step. Memory only.
	restoredAsked map[string]time.Time
	// refusedAt is when a primary last refused a heartbeat (Refusal):
	// the next is due a timeout later, as after a failed one, without
	// counting a failure. Memory only: a restart asks at once. The
	// refusals of every session kind are the Recorder's (Refused).
	refusedAt map[string]time.Time
	// refusalWarned is, per primary, the reply of its last refused
	// heartbeat logged at WARN and when (refusalWarnDue): the WARN is
	// paced, the refused heartbeats between are logged at INFO. It goes
	// at any other outcome of a heartbeat (a state change).
	refusalWarned map[string]warnedRefusal
	// failedWhy is the error of a primary's last failed heartbeat, until
	// one completes or is refused (Status). Memory only.
	failedWhy map[string]string
	// started is when this manager was made: the refusals being memory,
	// expired copies are kept for two heartbeat timeouts after it
	// (KeepExpiredCopies).
	started time.Time
}

// expediteFor is how long a primary stays urgent after a request: its
// watch session stays open that long after the last waiting sender.
const expediteFor = time.Minute

// New returns a manager; the scheduler drives it (Step, as queue.Client).
func New(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	m := &Manager{cfg: cfg, flight: map[string]time.Time{}, urgent: map[string]time.Time{},
		watching: map[string]bool{}, reconciled: map[string]time.Time{}, reconciling: map[string]bool{}, cursor: map[string]uint64{},
		restoredAsked: map[string]time.Time{}, refusedAt: map[string]time.Time{}, refusalWarned: map[string]warnedRefusal{}, failedWhy: map[string]string{},
		recordFailing: map[string]string{},
		watchHeld:     true, watchDown: map[string]time.Time{}, watchWake: map[string]chan struct{}{}}
	if m.rec = cfg.Recorder; m.rec == nil {
		m.rec = NewRecorder(cfg.Store, cfg.Observer, cfg.Log)
		m.rec.clk = cfg.Clock
	}
	if m.cfg.Runner == nil {
		m.cfg.Runner = goRunner{&m.wg}
	}
	m.SetTiming(Timing{Timeout: cfg.Timeout, Retries: cfg.Retries, CommandTimeout: cfg.CommandTimeout})
	m.started = cfg.Clock.Now()
	return m
}

// SetTiming applies new heartbeat settings (a configuration reload); the
// next step (at most a second away) uses them. Stored failures count
// against the new retry count.
func (m *Manager) SetTiming(t Timing) {
	t = t.inForce()
	m.mu.Lock()
	m.timing = t
	m.mu.Unlock()
}

// Timing returns the heartbeat settings in force.
func (m *Manager) Timing() Timing {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timing
}

// Expedite asks for the primary's discards as soon as they commit: a
// sender is waiting for its confirmation (delayed acknowledgement, SR-9).
// A watch session (watch.go) runs until the primary has no copies left
// or a minute passed; its failures never count towards a takeover. A
// heartbeater that cannot watch leaves confirmation to the sessions and
// heartbeats: never a connection per query (SR-15).
func (m *Manager) Expedite(primary string) {
	m.mu.Lock()
	m.urgent[primary] = m.cfg.Clock.Now().Add(expediteFor)
	m.mu.Unlock()
	m.startWatch(primary)
}

// WatchHeld has the next step open a watch session to every primary
// copies are held for, as at the start (a configuration reload: the
// topology a session was opened under may have changed, and a watch
// session that ended with it is not reopened by a hand-off alone).
//
// A watch session refused before the reload is tried again at that step
// too, not a heartbeat timeout after the refusal: the reload may have
// fixed what was refused (this server's credentials, the topology a
// session is opened under; stall41 item 3). A reload that fixed nothing
// is refused once more, and that refusal holds the next try as before.
func (m *Manager) WatchHeld() {
	m.mu.Lock()
	m.watchHeld = true
	m.reloaded = m.cfg.Clock.Now()
	m.mu.Unlock()
}

// Recorder records what sessions with a primary learn — a delivery
// session's, a heartbeat's, a watch session's — in the store, one commit
// each. The deliverer (whose sessions report through it,
// delivery.Config.Shadows) and the Manager share one. The only state it
// holds is memory for the operator: the refusals of each primary
// (Refused), so that every session kind reports to one record.
type Recorder struct {
	store Store
	obs   Observer
	log   *slog.Logger
	clk   clock.Clock

	mu       sync.Mutex
	refusals map[string]*refusal // by nameKey(primary), until it lets this server in
	// owns is, by nameKey(primary), the primary's last own refusal that
	// presented the digest of the database the copies were made against
	// (KeepExpiredCopies): apart from refusals, which a failed heartbeat
	// ends for the views (unreachable) while the primary may well be
	// alive and refusing still. A session let in ends it, and so do a
	// takeover by failed heartbeats, a new database, a refusal without
	// the digest and this server's refusal of the primary's contacts.
	owns   map[string]*refusal
	logged map[string]time.Time // by session kind and primary: the last WARN
	// watchRefused is, by nameKey(primary), when a primary's last watch session was refused,
	// by it or by something else at its address (watch.go), until a
	// session is let in: the next waits a heartbeat timeout.
	watchRefused map[string]time.Time
	// watchFailed is, by nameKey(primary), the error of a primary's last failed watch session
	// (no connection, a broken session), until a session with it
	// completes or is let in: the views show the primary unreachable
	// meanwhile, not healthy until its next heartbeat (rt27 F8). Kept
	// with the database id stored for the primary when it failed: a
	// primary recorded with a new database since (a copy it pushed, the
	// digest of a refused session) is not shown failing for a session
	// to the old one (holders49 item 4).
	watchFailed map[string]watchFailure
	// holderRefusals reads the holders whose sessions are refused here
	// (SetHolderRefusals, holderrefused.go).
	holderRefusals func() []HolderRefusal
	// serverKnown tests a name against the topology in force
	// (SetServerKnown, holderrefused.go), nil: every name known.
	serverKnown func(name string) bool
	// digestNoted: nameKey(primary) → what SessionDigest last recorded ("+": it
	// advertises its digest; "-" and the id: an earlier release), so
	// that a session that changes nothing costs no write.
	digestNoted sync.Map
}

// nameKey is the key of a primary's refusal (Recorder.refusals): its name
// folded as mailaddr.NameKey folds a server name (letter case, a final
// dot). A refusal is recorded under the name the primary's copies are
// stored under (its sessions' stated server id, as spelt there) and
// under the topology's spelling (a probe, a relay); the session let in
// that ends it comes named as the topology spells it (package smtp
// topologyName): one server, one key (shadow30 item 5).
func nameKey(name string) string { return mailaddr.NameKey(name) }

// refusal is a primary's refusals of this server's sessions since the
// last one it let in: since the first, the last and its reply.
type refusal struct {
	since, last time.Time
	reply       string
	// name is the primary's name as the refusal was recorded under (the
	// map's key is nameKey of it: one server whatever its spelling).
	name string
	// here: the refusal is this server's — the primary's session
	// presented presented, a transport database id kept here as other's
	// (refusedHere) — not the primary's.
	here             bool
	presented, other string
}

// Kinds of sessions with a primary, as Refused and the metrics name them.
const (
	SessionHeartbeat = "heartbeat"
	SessionWatch     = "watch"
	SessionReconcile = "reconcile"
	SessionRelay     = "relay" // a delivery that relays a message to it as a shadow session
	// SessionReceipt: this server's session to a shadow server for copies
	// on receipt (SR-17), where the peer is the shadow server.
	SessionReceipt = "receipt"
	// ContactRefusedDatabase: a session with a primary whose contact this
	// server refused — it presented a transport database id kept here as
	// another server's (Recorder.refusedHere) — counted as such.
	ContactRefusedDatabase = "contact"
	// HolderRefusedDatabase: a shadow server this server made no copy on
	// receipt on — it presented a transport database id kept here as
	// another server's and stated a name of its own that is not that
	// server's (a copied data dir; its sessions here are refused, so the
	// copy could never be discarded), or stated that server's name while
	// the topology lists it at another address (a copy of the data dir
	// and configuration: two hosts state the name) — counted at each
	// copy so passed over (HolderRefused).
	HolderRefusedDatabase = "holder"
)

// Sessions lists the kinds of sessions (metrics zero-fill them).
var Sessions = []string{SessionHeartbeat, SessionWatch, SessionReconcile, SessionRelay, SessionReceipt}

// NewRecorder returns a recorder over store.
func NewRecorder(store Store, obs Observer, log *slog.Logger) *Recorder {
	if obs == nil {
		obs = nopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: store, obs: obs, log: log, clk: clock.Real{},
		refusals: map[string]*refusal{}, owns: map[string]*refusal{}, logged: map[string]time.Time{},
		watchRefused: map[string]time.Time{}, watchFailed: map[string]watchFailure{}}
}

// refusalLogEvery paces the WARN of refusals per primary and session
// kind (Refused): the heartbeat's is logged at each refusal (one per
// timeout), the others at most once a minute.
const refusalLogEvery = time.Minute

// Refused records that primary answered a session of kind session
// (SessionHeartbeat, …) with a refusal — reply is its whole reply: a 5xx,
// or a reply refusing this server's login (535, a lockout's 454) — and
// that the refusal was judged the primary's (it presented its database
// digest; SessionRefused judges for the deliverer's sessions). The
// primary is alive; nothing is counted against it. The refusal is
// counted (Observer.Refused) and kept for the operator's view (Refusal,
// Status) until the primary lets this server in again (a Contact, or an
// XSHADOW reply Presented). It reports whether a WARN is due: the first
// refusal of the kind, then at most once per refusalLogEvery.
func (r *Recorder) Refused(primary, session, reply string) (warn bool) {
	return r.refused(primary, session, reply, true)
}

// refused is Refused; digested tells whether the refusal presented the
// digest of the database the copies were made against — not a primary
// of an earlier release's refusal without one (earlierrelease.go),
// which is the primary's for the views and the heartbeats but keeps no
// expired copy (KeepExpiredCopies): the copies' expiry is the one bound
// of trusting it.
func (r *Recorder) refused(primary, session, reply string, digested bool) (warn bool) {
	r.obs.Refused(session)
	now := r.clk.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.owns[nameKey(primary)]; digested && o == nil {
		r.owns[nameKey(primary)] = &refusal{since: now, last: now, reply: reply, name: primary}
	} else if digested {
		o.last, o.reply = now, reply
	} else {
		delete(r.owns, nameKey(primary))
	}
	f := r.refusals[nameKey(primary)]
	if f == nil || f.here {
		// A refusal by the primary ends a refusal of this server's
		// (refusedHere): its view, advice and takeover time no longer
		// hold (reread23 F2).
		f = &refusal{since: now, name: primary}
		r.refusals[nameKey(primary)] = f
	}
	f.last, f.reply = now, reply
	return r.warnDue(primary, session, now)
}

// Refusal returns the primary's refusals since the last session it let
// in: the reply of the last, when the first and the last came; ok false
// when its last session was not refused (or none since this start).
func (r *Recorder) Refusal(primary string) (reply string, since, last time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.refusals[nameKey(primary)]
	if f == nil {
		return "", time.Time{}, time.Time{}, false
	}
	return f.reply, f.since, f.last, true
}

// presentedDigest judges the database digest advertised in a session
// to primary that was refused before its XSHADOW reply (rt15 N1: a
// replacement with a new database that refuses this server's login was
// recognised only by its next push). Another digest than the stored
// id's takes the primary's copies over at once (SR-7). It reports
// whether the digest is the stored id's: only then was the refusal the
// primary's (see Judging a refusal in doc.go). A store that cannot judge
// digests takes every refusal for the primary's.
//
// The digest is as trustworthy as an XSHADOW reply: both come from
// whoever answers at the primary's address on the same connection,
// after the same TLS; the login proves this server to the primary, not
// the primary to this server. And it gives an outsider nothing to
// present: the id itself, which an XSHADOW reply must carry before
// discards or reconciliation answers are applied, is not derived from it.
//
// digested reports whether the refusal presented the digest of the
// database the copies were made against (a store that cannot judge
// digests: any refusal; not judged: any with a digest) — not one without
// a digest that a primary proved of an earlier release is trusted with.
func (r *Recorder) presentedDigest(name, digest string) (same, digested bool) {
	ds, ok := r.store.(DigestStore)
	if !ok {
		return true, true
	}
	name = r.storedName(name)
	if digest == "" {
		// None advertised: the primary's only when a completed session
		// proved it of a release before the digest (earlierrelease.go).
		return r.EarlierRelease(name), false
	}
	res, err := ds.PresentedDigest(name, digest)
	if err != nil {
		// Not judged: taken for the primary's refusal, as before the
		// digest; the next refusal asks again.
		r.log.Error("recording a primary's database digest failed", "primary", name, "err", err)
		return true, true
	}
	if res.OldDatabaseID != "" {
		r.forgetOwnRefusal(name) // a new database: the old one's refusal no longer speaks for its copies
		r.logNewDatabase(name, res.TakenOver, "it returned with a new transport database (it refuses this server's login; its database digest changed)",
			"database_digest", digest, "was", res.OldDatabaseID)
	}
	if res.SameDatabase {
		// The primary's own digest: upgraded, so a refusal without
		// one is no longer its own (earlierrelease.go).
		if es, ok := r.store.(EarlierReleaseStore); ok {
			if err := es.NoteDigestless(name, "", false); err != nil {
				r.log.Error("recording whether a primary advertises its database digest failed", "primary", name, "err", err)
			}
			r.digestNoted.Delete(nameKey(name)) // the next session's record is judged by the store again
		}
	}
	return res.SameDatabase, res.SameDatabase
}

// storedName is the name the store keeps primary under: its copies are
// stored under the name its sessions state, as spelt there, while a
// relay, a copy on receipt or a probe names it as the topology spells it
// (letter case, a final dot: nameKey). The spelling given when the store
// keeps it so or keeps no such primary (shadow30 item 5).
func (r *Recorder) storedName(primary string) string {
	ps, err := r.store.Primaries()
	if err != nil {
		return primary
	}
	k, folded := nameKey(primary), ""
	for _, p := range ps {
		if p.Name == primary {
			return primary
		}
		if folded == "" && nameKey(p.Name) == k {
			folded = p.Name
		}
	}
	if folded != "" {
		return folded
	}
	return primary
}

// SessionRefused records a session of kind session to peer (a relay in
// a shadow session, a push of copies on receipt) that was answered with
// a refusal: reply is the whole reply, digest the database digest the
// peer's EHLO advertised ("" when none). It is counted
// (Observer.Refused) and judged as a refused heartbeat is: another
// digest than the one of the database id stored for peer as a primary
// takes its copies over at once (SR-7); the same digest makes it the
// primary's refusal, shown in Status until a session is let in. It
// reports whether a WARN is due: the first refusal of the kind and peer,
// then at most once per refusalLogEvery.
func (r *Recorder) SessionRefused(peer, session, reply, digest string) (warn bool) {
	if same, digested := r.presentedDigest(peer, digest); same {
		return r.refused(peer, session, reply, digested)
	}
	r.obs.Refused(session)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.warnDue(peer, session, r.clk.Now())
}

// warnDue paces the WARN of refusals per peer and session kind; r.mu
// held. The peer is keyed by its folded name (nameKey), as its refusals
// are: one server whatever spelling a session or the topology used.
func (r *Recorder) warnDue(peer, session string, now time.Time) bool {
	key := warnKey(session, peer)
	if at, ok := r.logged[key]; ok && !at.After(now) && now.Sub(at) < refusalLogEvery {
		return false
	}
	r.logged[key] = now
	return true
}

// warnKey is the key of r.logged for peer's refusals of session.
func warnKey(session, peer string) string { return session + "\x00" + nameKey(peer) }

// unreachable forgets the refusals of a primary whose heartbeat failed:
// it no longer answers (or something else answers at its address), and
// the views say so instead of showing an old refusal (rt18 F5).
//
// The primary's own refusal that keeps its expired copies (owns) stays:
// one failed heartbeat — a network blip, a heartbeat cut off by its
// bound — does not prove it dead, and until its next refused heartbeat
// (a heartbeat timeout later) the expiry pass took over and delivered a
// second time the copies of a primary alive with their mail. Its failed
// heartbeats end it when they take the copies over (forgetOwnRefusal).
func (r *Recorder) unreachable(primary string) {
	r.mu.Lock()
	delete(r.refusals, nameKey(primary))
	r.mu.Unlock()
}

// forgetOwnRefusal ends the keeping of primary's expired copies by its
// own refusal (owns): its failed heartbeats took the copies over, or it
// returned with a new database.
func (r *Recorder) forgetOwnRefusal(primary string) {
	r.mu.Lock()
	delete(r.owns, nameKey(primary))
	r.mu.Unlock()
}

// ownRefusal is the primary's last own refusal that keeps its expired
// copies (owns): its reply, since when; ok false when none stands.
func (r *Recorder) ownRefusal(primary string) (reply string, since time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.owns[nameKey(primary)]
	if o == nil {
		return "", time.Time{}, false
	}
	return o.reply, o.since, true
}

// refusedWithin reports whether primary refused a session less than d
// before now and has not let this server in since.
func (r *Recorder) refusedWithin(primary string, now time.Time, d time.Duration) bool {
	return r.refusedSince(primary, now, d, time.Time{})
}

// refusedSince is refusedWithin for a refusal after since only.
func (r *Recorder) refusedSince(primary string, now time.Time, d time.Duration, since time.Time) bool {
	_, _, last, ok := r.Refusal(primary)
	return ok && last.After(since) && !last.After(now) && now.Sub(last) < d
}

// watchHeld reports whether a watch session to primary was refused less
// than d before now and after since, and no session let in since.
func (r *Recorder) watchHeld(primary string, now time.Time, d time.Duration, since time.Time) bool {
	r.mu.Lock()
	at, ok := r.watchRefused[nameKey(primary)]
	r.mu.Unlock()
	return ok && at.After(since) && !at.After(now) && now.Sub(at) < d
}

// holdWatch records a refused watch session to primary (watchHeld).
func (r *Recorder) holdWatch(primary string, now time.Time) {
	r.mu.Lock()
	r.watchRefused[nameKey(primary)] = now
	r.mu.Unlock()
}

// watchFailure is a failed watch session's error and the database id
// stored for its primary when it failed.
type watchFailure struct{ db, err string }

// watchFailing records the failure of a watch session to primary
// (watchFailed), with the database id the store holds for it.
func (r *Recorder) watchFailing(primary string, err error) {
	db := r.PrimaryDatabase(primary) // "" when not read: the failure stays shown whatever database the primary has
	r.mu.Lock()
	r.watchFailed[nameKey(primary)] = watchFailure{db: db, err: err.Error()}
	r.mu.Unlock()
}

// watchFailure is the error of primary's last failed watch session
// since a session with it was let in, when it failed with the database
// db (or either is not known); "" when none.
func (r *Recorder) watchFailure(primary, db string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.watchFailed[nameKey(primary)]
	if !ok || f.db != "" && db != "" && f.db != db {
		return ""
	}
	return f.err
}

// standingRefusals is the time of the last refusal of each primary whose
// refusal stands (by nameKey), the primary's own (not this server's
// refusal of it: here).
func (r *Recorder) standingRefusals() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(r.refusals))
	for k, f := range r.refusals {
		if !f.here {
			out[k] = f.last
		}
	}
	return out
}

// admitted forgets the refusals of a primary that let this server in,
// and the failures of its watch sessions. opened is when the session
// that was let in began (zero: not known, as for a delivery's session):
// a refusal that came after it stands (rt30a F3) — a session let in
// before the refusal (the watch session opened before a reload took
// accept-xshadow away, whose discard queries still complete) says
// nothing of the primary's answer now, and ending the refusal at each
// of its queries made shadow list and the metrics flap between healthy
// and refused, the since starting again at each; only a session opened
// after the refusal and let in (the next heartbeat) ends it.
func (r *Recorder) admitted(primary string, opened time.Time) {
	r.mu.Lock()
	delete(r.watchRefused, nameKey(primary))
	delete(r.watchFailed, nameKey(primary))
	if o := r.owns[nameKey(primary)]; o != nil && (opened.IsZero() || !o.since.After(opened)) {
		delete(r.owns, nameKey(primary))
	}
	if f := r.refusals[nameKey(primary)]; f != nil && !opened.IsZero() && f.since.After(opened) {
		r.mu.Unlock()
		return
	}
	if r.refusals[nameKey(primary)] != nil {
		delete(r.refusals, nameKey(primary))
		for _, s := range Sessions {
			delete(r.logged, warnKey(s, primary))
		}
	}
	r.mu.Unlock()
}

// Contact records a discard query completed with a primary — at the end
// of (or during) a delivery session, a heartbeat, a watch session — with
// the discard notifications it returned. The store resets the heartbeat
// timer (SR-5), applies the discards (SR-3), and takes over at once when
// the primary's database id differs from the stored one (SR-7), in one
// commit. Only a completed query resets the timer: it bounds how long a
// discard committed at the primary waits to be fetched, whatever other
// sessions come and go (an XSHADOW reply alone is Presented).
//
// It returns once the commit is durable, or its error: a session must
// not send the primary another command before (the primary forgets the
// notifications of a reply when the next command arrives, SR-15).
// mark is the rollback mark the reply listing discards presented (0 for
// none: Save).
func (r *Recorder) Contact(name, dbID string, mark uint64, discards []string) error {
	return r.contact(name, dbID, mark, discards, time.Time{})
}

// contact is Contact on a session that began at opened (admitted).
func (r *Recorder) contact(name, dbID string, mark uint64, discards []string, opened time.Time) error {
	res, err := r.store.Contact(name, dbID, mark, discards)
	if err != nil {
		r.logRecordFailed("recording a contact with a primary failed", name, dbID, err)
		return err
	}
	r.admitted(name, opened)
	r.contacted(name, dbID, discards, res)
	return nil
}

// Presented records what a session with a primary learned without
// completing a discard query: the database id of an XSHADOW reply (W-6;
// a new one takes its copies over at once, SR-7), and the notifications
// of the batches read before the session broke — the primary forgot
// those when this server asked for the next batch (SR-15), so they are
// applied, never dropped. The heartbeat timer is not reset, but an
// XSHADOW reply with the stored id proves the real primary alive: the
// store forgets the failed heartbeats counted against it, and the next is
// due a timeout after the reply (queue alive.go).
// Like Contact it returns once the commit is durable.
func (r *Recorder) Presented(name, dbID string, mark uint64, discards []string) error {
	return r.presented(name, dbID, mark, discards, time.Time{})
}

// presented is Presented on a session that began at opened (admitted).
func (r *Recorder) presented(name, dbID string, mark uint64, discards []string, opened time.Time) error {
	res, err := r.store.Presented(name, dbID, mark, discards)
	if err != nil {
		r.logRecordFailed("recording a primary's database id failed", name, dbID, err)
		return err
	}
	if dbID != "" {
		r.admitted(name, opened) // it answered XSHADOW: this server is in
	}
	r.contacted(name, dbID, discards, res)
	return nil
}

// logRecordFailed logs a failed record of a contact: a database id the
// store keeps as another primary's is refused, nothing changed
// (rt17f-F1), counted each time and logged as a WARN once per primary
// and state (refusedHere), with what the operator does; any other
// failure as an error.
func (r *Recorder) logRecordFailed(msg, name, dbID string, err error) {
	var o anotherDatabase
	if errors.As(err, &o) {
		other := ""
		var on interface{ OtherServer() string }
		if errors.As(err, &on) {
			other = on.OtherServer()
		}
		if r.refusedHere(name, dbID, other, err.Error()) {
			stored := r.PrimaryDatabase(name)
			r.log.Warn("contact refused: the presented transport database id is another server's",
				"primary", name, "database_id", dbID, "err", err,
				"what_to_do", anotherDatabaseAdvice(name, stored, dbID, other))
		}
		return
	}
	r.log.Error(msg, "primary", name, "err", err)
}

// anotherDatabase is the store's refusal of a database id it keeps as
// another server's (queue.DatabaseOfAnotherError).
type anotherDatabase interface {
	AnotherServersDatabase() bool
}

// PrimaryDatabase is the transport database id stored for primary, ""
// when none (or the store could not be read): delivery compares it with
// the database a copy was taken over from (rt27a F3).
func (r *Recorder) PrimaryDatabase(primary string) string {
	ps, err := r.store.Primaries()
	if err != nil {
		return ""
	}
	for _, p := range ps {
		if nameKey(p.Name) == nameKey(primary) { // the store keeps one folded spelling (queue/primaryfold.go)
			return p.DatabaseID
		}
	}
	return ""
}

// HolderRefused counts a shadow server passed over for a copy on receipt
// because it presents another server's transport database id under a
// name of its own, or under that server's name at another address than
// the topology's (HolderRefusedDatabase; package delivery logs it).
func (r *Recorder) HolderRefused() { r.obs.Refused(HolderRefusedDatabase) }

// refusedHere records a contact of primary refused by this server's
// store: it presented the database id presented, kept here as other's
// (rt23a F1). It is counted (ContactRefusedDatabase) and kept for the
// operator's view as a refusal (state refused, the reply and since
// when) until a session is let in or a heartbeat fails for another
// reason. It reports whether a WARN is due: once per primary and state
// — the first such refusal, or another id presented — not once per
// session.
func (r *Recorder) refusedHere(primary, presented, other, reply string) (warn bool) {
	r.obs.Refused(ContactRefusedDatabase)
	now := r.clk.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.owns, nameKey(primary)) // this server's refusal: nothing is the primary's to expire
	f := r.refusals[nameKey(primary)]
	fresh := f == nil || !f.here || f.presented != presented
	if fresh {
		f = &refusal{since: now, here: true, presented: presented, other: other, name: primary}
		r.refusals[nameKey(primary)] = f
	}
	f.last, f.reply = now, reply
	return fresh
}

// SessionAcceptedHere ends the refusal of primary's contacts by this
// server (refusedHere): a session primary opened here presenting dbID,
// a transport database id of its own, was let in (package smtp:
// anotherDatabaseAccepted, the event that clears its destination mark
// server:refused:NAME). The refusal no longer stands, so the view no
// longer says refused (rt28e F3: shadow list kept it until this
// server's next heartbeat or relay reached the primary — up to a
// heartbeat timeout — while queue destinations had dropped the mark).
// A refusal by the primary of this server's sessions (Refused) is not
// this server's to end: it stays until the primary lets this server in.
func (r *Recorder) SessionAcceptedHere(primary, dbID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.refusals[nameKey(primary)]; f != nil && f.here && f.presented != dbID {
		delete(r.refusals, nameKey(primary))
	}
}

// refusedHereOf returns the refusal of primary's contacts by this
// server (refusedHere), if its last session was one.
func (r *Recorder) refusedHereOf(primary string) (presented, other string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.refusals[nameKey(primary)]
	if f == nil || !f.here {
		return "", "", false
	}
	return f.presented, f.other, true
}

// takesOverRefused reports whether a primary whose contacts are refused
// for presenting presented has its copies taken over by its failed
// heartbeats: its copies were made against stored, another database,
// which it evidently no longer runs (doc.go: A contact refused here).
func takesOverRefused(stored, presented string) bool {
	return stored != "" && stored != presented
}

// anotherDatabaseAdvice is what the WARN and shadow list say of a
// primary whose contacts are refused for presenting other's database id.
func anotherDatabaseAdvice(primary, stored, presented, other string) string {
	if other == "" {
		other = "another server"
	}
	if takesOverRefused(stored, presented) {
		return primary + " no longer runs the transport database its copies here were made against (" + stored +
			"): its heartbeats count as failed and its copies are taken over at the retry count; if " + primary +
			" runs a copy of " + other + "'s data dir, give it a data dir of its own"
	}
	return "two servers present one transport database id (one runs a copy of the other's data dir); " + primary +
		"'s copies wait here, not taken over: give the server that runs the copy a data dir of its own, then, if " + primary +
		" is the id's owner, run umbra shadow forget-database " + presented + " on this server"
}

// save is the Save of sessions with primary name.
func (r *Recorder) save(name string) Save {
	opened := r.clk.Now() // the session's start: a refusal after it stands (admitted)
	return func(dbID string, mark uint64, discards []string, contact bool) error {
		var err error
		switch {
		case contact:
			err = r.contact(name, dbID, mark, discards, opened)
		case dbID != "" || len(discards) > 0:
			err = r.presented(name, dbID, mark, discards, opened)
		}
		if err != nil {
			return &SaveError{err}
		}
		return nil
	}
}

// contacted logs and counts what a contact changed.
func (r *Recorder) contacted(name, dbID string, discards []string, res ContactResult) {
	if len(discards) > 0 {
		r.log.Debug("discard notifications received", "primary", name, "ids", len(discards), "discarded", res.Discarded)
	}
	if res.Discarded > 0 {
		// The copies discarded, each once: a reply repeats what the
		// primary was not told this server has (another session's
		// reply not acknowledged yet), which finds no copy again.
		r.obs.DiscardsReceived(res.Discarded)
	}
	if res.OldDatabaseID != "" {
		r.logNewDatabase(name, res.TakenOver, "it returned with a new transport database", "database_id", dbID, "was", res.OldDatabaseID)
	}
	if res.Retried > 0 {
		r.log.Info("primary answers again; its taken-over copies are routed now", "primary", name, "messages", res.Retried)
	}
}

// logNewDatabase logs and counts what a new database id of primary name
// took over: the WARN "took over shadow copies" an operator alerts on,
// and the takeover counted, when n copies were; an INFO (NothingTakenOver) when none was held for it — no
// takeover to alert on (shadowout48 F2).
func (r *Recorder) logNewDatabase(name string, n int, reason string, args ...any) {
	if n == 0 {
		r.log.Info(NothingTakenOver, append([]any{"primary", name, "reason", reason}, args...)...)
		return
	}
	r.obs.Takeover(n) // counted as logged: a takeover took something over
	r.log.Warn("took over shadow copies", append([]any{"primary", name, "messages", n, "reason", reason}, args...)...)
}

// NothingTakenOver is the INFO line of a primary that presented a new
// transport database while no shadow copy was held for it (the queue's
// paths log the same words).
const NothingTakenOver = "primary presented a new transport database; nothing was taken over: no shadow copy was held for it"

// Recorder is the manager's recorder (the deliverer's too); nil for a
// nil manager (shadow redundancy off).
func (m *Manager) Recorder() *Recorder {
	if m == nil {
		return nil
	}
	return m.rec
}

// Contact records a completed discard query (Recorder.Contact).
func (m *Manager) Contact(name, dbID string, mark uint64, discards []string) error {
	return m.rec.Contact(name, dbID, mark, discards)
}

// Presented records what a session learned without completing a
// discard query (Recorder.Presented).
func (m *Manager) Presented(name, dbID string, mark uint64, discards []string) error {
	return m.rec.Presented(name, dbID, mark, discards)
}

// ContactOn is Contact on a session whose XSHADOW the primary answered
// at opened (a delivery's session, kept in its pool): a refusal that
// came after it stands (Recorder.admitted, rt30a F3).
func (m *Manager) ContactOn(name, dbID string, mark uint64, discards []string, opened time.Time) error {
	return m.rec.ContactOn(name, dbID, mark, discards, opened)
}

// PresentedOn is Presented on a session let in at opened (ContactOn).
func (m *Manager) PresentedOn(name, dbID string, mark uint64, discards []string, opened time.Time) error {
	return m.rec.PresentedOn(name, dbID, mark, discards, opened)
}

// ContactOn is Contact on a session whose XSHADOW the primary answered
// at opened (Manager.ContactOn).
func (r *Recorder) ContactOn(name, dbID string, mark uint64, discards []string, opened time.Time) error {
	return r.contact(name, dbID, mark, discards, opened)
}

// PresentedOn is Presented on a session let in at opened.
func (r *Recorder) PresentedOn(name, dbID string, mark uint64, discards []string, opened time.Time) error {
	return r.presented(name, dbID, mark, discards, opened)
}

// due reports whether a heartbeat to p is due at now: one timeout after
// the last contact or after the start of the last failed heartbeat,
// whichever is later — so a hung heartbeat costs no extra timeout (SR-16).
// Those times are persisted wall-clock times: one that lies after now
// was written before the clock stepped back and is ignored; with none
// left the heartbeat is due at once (it records a new contact or failure
// on the stepped clock), so heartbeats never stop for the length of the
// step, and failures stay a timeout apart. A step forward makes one heartbeat early; a takeover still
// needs its retry count of failures, a timeout apart.
func due(p Primary, now time.Time, timeout time.Duration) bool {
	var last time.Time
	for _, t := range []time.Time{p.LastContact, p.LastTry} {
		if !t.After(now) && t.After(last) { // a time after now predates a step back
			last = t
		}
	}
	return last.IsZero() || now.Sub(last) >= timeout
}

// Step is the scheduler's call (queue.Client): it starts the heartbeats
// that are due, each a task of the primary's destination in the
// scheduler (window 1: one heartbeat per primary) bounded by the command
// timeout, so one hung primary holds its own window and delays no other,
// and (re)starts the watch sessions of primaries senders wait on (their
// own destination: a watch session never holds a heartbeat back). It
// returns when it wants to be stepped again: a few times per timeout, at
// most a second away.
func (m *Manager) Step(ctx context.Context) time.Duration {
	every := m.Timing().Timeout / 4
	if every > time.Second || every <= 0 {
		every = time.Second
	}
	m.mu.Lock()
	if m.runCtx == nil {
		m.runCtx = ctx // the watch sessions Expedite starts live in it
	}
	m.mu.Unlock()
	primaries, err := m.cfg.Store.Primaries()
	if err != nil {
		if left, ok := m.listLog.Due(m.cfg.Clock.Now()); ok {
			attrs := []any{"err", err}
			if left > 0 {
				attrs = append(attrs, "suppressed", left)
			}
			m.cfg.Log.Error("listing shadow primaries failed", attrs...)
		}
		return every
	}
	now := m.cfg.Clock.Now()
	standing := m.rec.standingRefusals() // before m.mu: the recorder's lock is its own
	m.mu.Lock()
	t := m.timing
	m.known = primaries
	listed := map[string]bool{}
	held := m.watchHeld
	m.watchHeld = false
	for _, p := range primaries {
		listed[p.Name] = true
		if held && !p.TakenOver && m.urgent[p.Name].Before(now.Add(expediteFor)) {
			// The first step after the start (or a reload): the primary
			// still owes the discards of the copies held for it, as
			// after a hand-off (watch40 item 1).
			m.urgent[p.Name] = now.Add(expediteFor)
		}
		if down, ok := m.watchDown[p.Name]; ok && p.LastContact.After(down) {
			// The primary answered a heartbeat or session since its
			// watch session last failed: the watch goes again now, not
			// at its pause's end (the discards of what it delivers now
			// would wait that long).
			delete(m.watchDown, p.Name)
			select {
			case m.watchWake[p.Name] <- struct{}{}:
			default:
			}
		}
		if p.UrgentUntil.After(m.urgent[p.Name]) {
			m.urgent[p.Name] = p.UrgentUntil // a sender waits, or a copy was handed on (the queue's record)
		}
		if until := m.urgent[p.Name]; !p.TakenOver && !until.IsZero() && until.Before(now.Add(expediteFor)) {
			// Copies are still held for a primary whose watch session
			// runs: it stays open until their discards are in (and a
			// minute after the last went), however long the primary
			// keeps the mail — not a minute after the hand-off, with
			// the discards of the copies it delivers later left to the
			// heartbeats (rt39 F1). One session per primary. An urgency
			// that ran out since the last step (the process stopped, a
			// stall, the clock stepped on) is renewed too: it is
			// dropped below only for a primary no copy is held for any
			// more, else the session ended and none opened again until
			// the next hand-off (rrwatch40).
			m.urgent[p.Name] = now.Add(expediteFor)
		}
	}
	for name, until := range m.urgent {
		// Only expiry ends urgency (rt43 F3). Not a moment without
		// copies: under steady load the last copy for a primary goes
		// now and then, and ending its watch session then left the
		// discards of the next copies to the session a later step
		// opens, up to a second late, in one batch. An unlisted primary
		// gets no new session (primaryAddr); an open one stays.
		if now.After(until) {
			delete(m.urgent, name)
		}
	}
	type start struct {
		p     Primary
		timer clock.Timer
	}
	var starts []start
	var quick []string
	for _, p := range primaries {
		if !m.urgent[p.Name].IsZero() && !m.watching[p.Name] {
			quick = append(quick, p.Name)
		}
		// A primary whose refusal stands gets its heartbeat one timeout
		// after the refusal's last, whatever the contacts since: the
		// discard queries of a watch session opened before the refusal
		// keep the heartbeat from falling due and end no refusal
		// (admitted), so the refusal would stand for as long as the
		// watch runs, the primary letting everything in meanwhile.
		last, refused := standing[nameKey(p.Name)]
		againRefused := refused && !last.After(now) && now.Sub(last) >= t.Timeout
		if !(due(p, now, t.Timeout) || deferredDue(p, now, t) || againRefused) || m.busy(p.Name) || m.refusedRecently(p.Name, now, t.Timeout) {
			continue
		}
		// The bound is armed here, before the goroutine runs, so that a
		// test's fake clock sees it at once.
		s := start{p: p, timer: m.cfg.Clock.NewTimer(t.CommandTimeout)}
		m.flight[p.Name] = now.Add(t.CommandTimeout)
		starts = append(starts, s)
	}
	checks, ends := m.reconcileDue(primaries, now)
	m.mu.Unlock()
	for _, end := range ends { // a commit of the store: not under m.mu
		end()
	}
	for _, p := range checks {
		if !m.cfg.Runner.StartTask(ctx, ReconcileDest+p.Name, shadowQueue(p.Name), 1, func(ctx context.Context) error {
			return m.reconcile(ctx, p)
		}) {
			m.mu.Lock()
			delete(m.reconciling, p.Name)
			delete(m.reconciled, p.Name) // not started: asked again at the next step
			m.mu.Unlock()
		}
	}
	for _, name := range quick {
		m.startWatch(name) // urgent since the last step, or ended early: (re)start it
	}
	for _, s := range starts {
		ok := m.cfg.Runner.StartTask(ctx, HeartbeatDest+s.p.Name, shadowQueue(s.p.Name), 1, func(ctx context.Context) error {
			return m.session(ctx, s.p, now, s.timer, t.Timeout, t.Retries)
		})
		if !ok {
			// The scheduler stopped, or its window still counts the last
			// heartbeat: not started, asked again at the next step.
			s.timer.Stop()
			m.mu.Lock()
			delete(m.flight, s.p.Name)
			m.mu.Unlock()
		}
	}
	return every
}

// refusedByPrimary judges a session to primary name that was answered
// with a refusal (err, a Refusal): the database digest advertised before
// it (DatabaseDigester) goes to the recorder, where another digest than
// the stored id's takes the copies over at once (SR-7). It reports
// whether the refusal was the primary's: only a server presenting the
// digest of the database the copies were made against is the primary
// refusing this server, alive and holding the mail. Anything else at
// its address — a server with no digest, or another one — is not, and
// the session counts as if nothing had answered (doc.go: Judging a
// refusal).
//
// digested reports whether it presented that digest (presentedDigest):
// only such a refusal keeps the copies past their expiry.
func (m *Manager) refusedByPrimary(name string, err error) (own, digested bool) {
	digest := ""
	var dd DatabaseDigester
	if errors.As(err, &dd) {
		digest = dd.DatabaseDigest()
	}
	return m.rec.presentedDigest(name, digest)
}

// notThePrimary is a session refused by something that did not present
// the primary's database digest: a failed session, not a refusal (no
// Refusal method: the scheduler counts it in a row).
type notThePrimary struct {
	reply, digest string
}

func (e *notThePrimary) Error() string {
	if e.digest == "" {
		return "refused without the primary's database digest (none advertised; not the primary): " + e.reply
	}
	return "refused by a server with another database digest (" + e.digest + "; not the primary's database): " + e.reply
}

// refusedHereError is a heartbeat whose contact this server refused (the
// primary presented another server's database id) and that counts no
// failure: a Refusal, so the scheduler shows it without counting it in
// a row.
type refusedHereError struct{ err error }

func (e *refusedHereError) Error() string   { return "contact refused here: " + e.err.Error() }
func (e *refusedHereError) Unwrap() error   { return e.err }
func (e *refusedHereError) Refusal() string { return e.Error() }

// notPrimary is the failure of a session refused by something other
// than the primary (refusedByPrimary false).
func notPrimary(err error, ref Refusal) error {
	e := &notThePrimary{reply: ref.Refusal()}
	var dd DatabaseDigester
	if errors.As(err, &dd) {
		e.digest = dd.DatabaseDigest()
	}
	return e
}

// refusedRecently reports whether primary refused a heartbeat less than
// timeout before now; m.mu held.
func (m *Manager) refusedRecently(primary string, now time.Time, timeout time.Duration) bool {
	at, ok := m.refusedAt[primary]
	return ok && !at.After(now) && now.Sub(at) < timeout
}

// busy reports whether a heartbeat to primary is in flight; m.mu held.
func (m *Manager) busy(primary string) bool {
	_, ok := m.flight[primary]
	return ok
}

// ErrHeartbeatBound is the cause (context.Cause) of a heartbeat's
// context its bound ended, the primary silent: it wraps
// context.DeadlineExceeded, as a deadline's is, so that a Heartbeater
// tells it from this server's stop (context.Canceled), which says nothing
// about the primary (rcpt47 item 3).
var ErrHeartbeatBound = fmt.Errorf("heartbeat not done within its bound: %w", context.DeadlineExceeded)

// HeartbeatStepper is a Heartbeater's error that names the step of the
// heartbeat in flight when its bound cut it off ("XQUERYDISCARD",
// "connection, greeting and login"): the failure says which step the
// primary did not answer.
type HeartbeatStepper interface{ HeartbeatStep() string }

// boundError is a heartbeat its bound (transport.command_timeout) cut
// off: the step not answered, and the bound. It is
// context.DeadlineExceeded (errors.Is), as the bound is.
type boundError struct {
	step  string
	bound time.Duration
}

func (e *boundError) Error() string {
	if e.step == "" {
		return fmt.Sprintf("heartbeat not done within %s (the heartbeat's bound, transport.command_timeout)", e.bound)
	}
	return fmt.Sprintf("%s not answered within %s (the heartbeat's bound, transport.command_timeout)", e.step, e.bound)
}

func (e *boundError) Unwrap() error { return context.DeadlineExceeded }

// session runs one heartbeat to p, cut off when timer fires, and
// returns its failure (for the destination's window).
func (m *Manager) session(ctx context.Context, p Primary, started time.Time, timer clock.Timer, timeout time.Duration, retries int) error {
	defer func() {
		m.mu.Lock()
		delete(m.flight, p.Name)
		m.mu.Unlock()
	}()
	hctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(nil) }
	stop := make(chan struct{})
	go func() {
		select {
		case <-timer.C():
			// The bound, told apart from this server's stop: the
			// Heartbeater marks the primary for the one and not for
			// the other (ErrHeartbeatBound).
			cancelCause(ErrHeartbeatBound)
		case <-stop:
			timer.Stop()
		}
	}()
	// Each batch is committed before the heartbeat asks for the next or
	// says QUIT (Heartbeater): a batch read before the session broke is
	// here already.
	err := m.cfg.Heartbeater.Heartbeat(hctx, p.Name, p.Addr, m.rec.save(p.Name))
	bounded := hctx.Err() != nil // read before cancel: the bound cut the session off
	close(stop)
	cancel()
	if ctx.Err() != nil {
		return nil // shutting down: not the primary's fault
	}
	var local LocalFault
	if errors.As(err, &local) {
		// This server's own fault (a panic, logged and counted where it
		// was recovered; a source address it cannot bind): the primary
		// may be alive and answering, so no failure is counted against
		// it, nor in the failed heartbeats' metric, nor is it shown
		// unreachable. At ERROR — it is this server's to fix, and err
		// says what —, once a minute per primary as a refusal's WARN:
		// the next heartbeat comes a timeout later, a second at the
		// shortest.
		m.rec.mu.Lock()
		due := m.rec.warnDue(p.Name, "heartbeat-fault", m.cfg.Clock.Now())
		m.rec.mu.Unlock()
		if due {
			m.cfg.Log.Error("heartbeat ended by a fault of this server's; no failure counted against the primary", "primary", p.Name, "err", err)
		}
		return err // the scheduler counts it neither a success nor a failure (queue tasks.go)
	}
	var saveErr *SaveError
	keepRefusal := false // the view keeps this server's refusal of its contact
	if errors.As(err, &saveErr) {
		var o anotherDatabase
		if !errors.As(saveErr.Err, &o) {
			// This server's store failed, not the primary: no failure is
			// counted against it (the Recorder logged the cause), nor a
			// success: the scheduler keeps its row as it was.
			return localErr{err}
		}
		// rt23a F1: the store refused the contact — the primary presented
		// a database id kept here as another server's. A refused contact
		// is never a contact.
		presented, _, _ := m.rec.refusedHereOf(p.Name)
		if !takesOverRefused(p.DatabaseID, presented) {
			// Nothing says it lost the copies' database (none stored,
			// or the one it presents): it may be the id's genuine
			// owner, so nothing is taken over; the next heartbeat is a
			// timeout away, as after a refusal by the primary.
			m.mu.Lock()
			m.refusedAt[p.Name] = started
			delete(m.failedWhy, p.Name)
			delete(m.refusalWarned, p.Name)
			m.mu.Unlock()
			return &refusedHereError{saveErr.Err}
		}
		// Its copies were made against another database, which it no
		// longer runs: the heartbeat fails, counted towards the
		// takeover at the time shadow list announces.
		err, keepRefusal = saveErr.Err, true
	}
	if err == nil {
		m.cfg.Observer.Heartbeat(true)
		m.mu.Lock()
		delete(m.refusedAt, p.Name)
		delete(m.failedWhy, p.Name)
		delete(m.refusalWarned, p.Name)
		m.mu.Unlock()
		return nil
	}
	var ref Refusal
	if !bounded && errors.As(err, &ref) {
		if own, digested := m.refusedByPrimary(p.Name, err); !own {
			// Something answered at the primary's address and refused,
			// but it did not present the digest of the database the
			// copies were made against: not the primary refusing this
			// server, so a failed heartbeat like no answer at all
			// (rt18 F4; another digest took the copies over already).
			err = notPrimary(err, ref)
		} else {
			// The primary answered and refused the session (this server
			// did not log in, or has no right to the shadow verbs): it
			// is alive, so this is no failed heartbeat and never leads
			// to a takeover. Its copies stay here until it lets this
			// server in or stops answering (its failed heartbeats take
			// them over) — past
			// their expiry too when it presented the copies' database
			// digest (KeepExpiredCopies); one that presented none (a
			// primary proved of an earlier release) keeps them until
			// they expire. The next heartbeat is a timeout
			// away. The scheduler shows the refusal as its
			// destination's last error without counting it in the
			// failures in a row (the error is a Refusal).
			m.mu.Lock()
			m.refusedAt[p.Name] = started
			delete(m.failedWhy, p.Name)
			warn := m.refusalWarnDue(p.Name, ref.Refusal())
			m.mu.Unlock()
			m.rec.refused(p.Name, SessionHeartbeat, ref.Refusal(), digested)
			if warn {
				m.cfg.Log.Warn("primary refused the heartbeat; its copies are kept, not taken over", "primary", p.Name, "addr", p.Addr,
					"reply", ref.Refusal())
			} else {
				m.cfg.Log.Info("primary refused the heartbeat again; its copies are kept, not taken over (at WARN when its reply changes, and once a minute)",
					"primary", p.Name, "addr", p.Addr, "reply", ref.Refusal())
			}
			if ds, ok := m.cfg.Store.(DisownStore); ok && disownsThisServer(ref.Refusal()) {
				// It keeps this server's database id as another
				// server's: this server runs a copy of that server's
				// data dir, and its copies here are that server's,
				// stale. The refusal stands through an outage of the
				// primary (ErrDisowned).
				if derr := ds.Disowned(p.Name, ref.Refusal()); derr != nil {
					m.cfg.Log.Error("recording a primary's refusal of this server's database failed", "primary", p.Name, "err", derr)
				}
			}
			return err
		}
	}
	m.cfg.Observer.Heartbeat(false)
	if bounded {
		// The bound, not an error of the primary's making: which step it
		// cut off and after how long, in umbra's words (shadowout48 F3:
		// WHY said Go's bare "context deadline exceeded").
		step := ""
		var hs HeartbeatStepper
		if errors.As(err, &hs) {
			step = hs.HeartbeatStep()
		}
		m.mu.Lock()
		deadline, ok := m.flight[p.Name] // armed with the bound (Step)
		m.mu.Unlock()
		bound := deadline.Sub(started)
		if !ok || bound <= 0 {
			bound = m.Timing().CommandTimeout
		}
		err = &boundError{step: step, bound: bound}
	}
	// It did not complete: whatever it refused before, the views say
	// unreachable now, with this error (rt18 F5) — unless this server
	// refused its contact (the view says refused, with the takeover).
	if !keepRefusal {
		m.rec.unreachable(p.Name)
	}
	m.mu.Lock()
	delete(m.refusedAt, p.Name)
	delete(m.refusalWarned, p.Name)
	m.failedWhy[p.Name] = err.Error()
	m.mu.Unlock()
	failures, taken, serr := m.cfg.Store.HeartbeatFailed(p.Name, started, timeout, retries, err.Error())
	if serr != nil && !errors.Is(serr, ErrAnsweredSince) && !errors.Is(serr, ErrTakenOverAlready) &&
		!errors.Is(serr, ErrDisowned) && !errors.Is(serr, ErrTakeoverDeferred) {
		m.recordFailed(p, serr)
		return err
	}
	m.recordedAgain(p)
	if errors.Is(serr, ErrAnsweredSince) {
		m.mu.Lock()
		delete(m.failedWhy, p.Name)
		m.mu.Unlock()
		m.cfg.Log.Warn("heartbeat failed, but the primary completed another session here since it began: no failure counted, its copies are kept",
			"primary", p.Name, "addr", p.Addr, "failures", failures, "err", err)
		return err
	}
	if errors.Is(serr, ErrTakenOverAlready) || (serr == nil && failures >= retries) {
		// Taken over by its failed heartbeats (now or before): an own
		// refusal from before no longer keeps expired copies — the
		// next refusal, if it answers again, does.
		m.rec.forgetOwnRefusal(p.Name)
	}
	if errors.Is(serr, ErrTakenOverAlready) {
		m.logStillUnreachable(p, failures, err)
		return err
	}
	if errors.Is(serr, ErrDisowned) {
		m.cfg.Log.Warn("heartbeat failed; its copies are not taken over: the primary refused this server's transport database as another server's (a copy of another server's data dir runs here)",
			"primary", p.Name, "addr", p.Addr, "failures", failures, "err", err)
		return err
	}
	if errors.Is(serr, ErrTakeoverDeferred) {
		m.cfg.Log.Warn("heartbeat failed; its copies are taken over no earlier than timeout × retries after the last contact of any kind with the primary",
			"primary", p.Name, "addr", p.Addr, "failures", failures, "of", retries, "bound", timeout*time.Duration(retries), "err", err)
		return err
	}
	if failures >= retries && taken > 0 {
		m.cfg.Observer.Takeover(taken)
		m.cfg.Log.Warn("took over shadow copies", "primary", p.Name, "messages", taken,
			"reason", takenOverWhy(failures), "failures", failures, "err", err)
		return err
	}
	if failures >= retries {
		// Past the takeover: the heartbeats go on until the primary
		// answers again, each failure logged with the takeover's count
		// (shadow list's: the store stops counting there), but
		// no takeover is to come — not a WARN with failures past "of",
		// which read like a counter past its limit (rt16e F4).
		m.logStillUnreachable(p, failures, err)
		return err
	}
	m.cfg.Log.Warn("heartbeat failed", "primary", p.Name, "addr", p.Addr, "failures", failures, "of", retries, "err", err)
	return err
}

// recordFailed notes a failed heartbeat that could not be recorded
// (serr: the store's commit, which takes the copies over at the retry
// count — on a full disk it fails at every heartbeat): logged at ERROR
// once, then at most once a minute with suppressed=N (rt42 F3: twice a
// second before), and shown by Status as a takeover that waits.
func (m *Manager) recordFailed(p Primary, serr error) {
	m.mu.Lock()
	m.recordFailing[p.Name] = recordFailure(serr)
	left, ok := m.recordLog.Due(m.cfg.Clock.Now())
	m.mu.Unlock()
	if !ok {
		return
	}
	attrs := []any{"primary", p.Name, "err", serr}
	if left > 0 {
		attrs = append(attrs, "suppressed", left)
	}
	m.cfg.Log.Error("recording a failed heartbeat failed; its copies are not taken over until it is recorded", attrs...)
}

// recordedAgain ends p's failed heartbeats that could not be recorded,
// if any, with the INFO line the recovery gets; the pacing of their
// ERROR goes on until a quiet period (recordLog).
func (m *Manager) recordedAgain(p Primary) {
	m.mu.Lock()
	why, open := m.recordFailing[p.Name]
	delete(m.recordFailing, p.Name)
	m.mu.Unlock()
	if open {
		m.cfg.Log.Info("failed heartbeats are recorded again", "primary", p.Name, "was", why)
	}
}

// recordFailure is what Status says of a failed heartbeat that could
// not be recorded: in words for a full disk.
func recordFailure(err error) string {
	if noRoom(err) {
		return "no space left in data_dir"
	}
	return "the failed heartbeat could not be recorded: " + err.Error()
}

// noRoom says whether err is a write refused for want of room (a full
// disk, a quota) — also where only its text is left.
func noRoom(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error())
}

// logStillUnreachable logs a failed heartbeat to a primary whose copies
// are taken over already: at INFO, the count as the failed heartbeats in
// a row (shadow list's), no limit beside it.
func (m *Manager) logStillUnreachable(p Primary, failures int, err error) {
	m.cfg.Log.Info("primary still unreachable; its copies are taken over",
		"primary", p.Name, "addr", p.Addr, "failed_heartbeats", failures, "err", err)
}

// Wait waits for the sessions in flight of a manager without a
// scheduler (the scheduler's Wait waits for its tasks).
func (m *Manager) Wait() { m.wg.Wait() }

// PrimaryStatus is what the manager knows of one primary.
type PrimaryStatus struct {
	Name        string    `json:"primary"`
	LastContact time.Time `json:"last_contact"`
	Failures    int       `json:"failed_heartbeats"`
	DatabaseID  string    `json:"database_id,omitempty"`
	TakenOver   bool      `json:"taken_over,omitempty"`
	// Refused is the reply of the last session the primary refused
	// (heartbeat, watch, reconciliation, relay), when it has let this
	// server in no session since; RefusedSince is the first of those
	// refusals, LastRefused the last. Memory: empty after a restart
	// until the next refusal.
	Refused      string    `json:"refused,omitempty"`
	RefusedSince time.Time `json:"refused_since,omitzero"`
	LastRefused  time.Time `json:"last_refused,omitzero"`
	// While heartbeats fail (Failures > 0, not taken over): Unreachable
	// is the error of the last failed one (memory: empty after a restart
	// until the next failure); while none failed yet but watch sessions
	// to the primary fail, the error of the last of those ("watch
	// session failed: …", until a session with it completes). TakeoverAt when the heartbeat starts that
	// takes the copies over if it fails too (SR-6; a hung primary adds
	// up to one command timeout). A refusal by the primary itself is no
	// failure (Refused); a refusal by something without its database
	// digest is one (doc.go: Judging a refusal). TakeoverBy is the
	// latest that heartbeat can end in: a primary that hangs keeps it
	// open for one command timeout.
	Unreachable string    `json:"unreachable,omitempty"`
	TakeoverAt  time.Time `json:"takeover_at,omitzero"`
	TakeoverBy  time.Time `json:"takeover_by,omitzero"`
	// TakeoverWaiting, while the last failed heartbeat could not be
	// recorded (the commit that takes the copies over failed: a full
	// disk, "no space left in data_dir"): why the takeover waits,
	// whatever TakeoverAt says. Memory only.
	TakeoverWaiting string `json:"takeover_waiting,omitempty"`
	// ReachesHere, while this server's sessions to the primary fail
	// (Unreachable) and the primary's own sessions reach this server
	// (a probe, a push of its discards: a link failing one way): the
	// last of those, later than this server's last own contact
	// (LastContact is then that session of the primary's). Each moves
	// the takeover on: none comes while they go on (partition49 F2).
	// PushedHere is when the primary last handed discards here on its
	// own session (XDISCARD) since this server's start, zero when none:
	// the discards this server cannot fetch reach it so.
	ReachesHere time.Time `json:"reaches_here,omitzero"`
	PushedHere  time.Time `json:"discards_pushed_here,omitzero"`
	// TakenOverWhy, once its copies were taken over for failed heartbeats
	// (TakenOver) and while the primary refuses nothing: the count of
	// failed heartbeats and the last one's error (memory: its count alone
	// after a restart until the next failure), as the takeover recorded
	// its reason — shadow list's WHY, where the failures go on.
	TakenOverWhy string `json:"taken_over_why,omitempty"`
	// ExpiryKept, while the primary refuses this server with the
	// database the copies were made against (not one that disowned
	// it): its copies are kept past their expiry, not taken over
	// (KeepExpiredCopies) — shadow list's WHY says it after the reply.
	ExpiryKept string `json:"expiry_kept,omitempty"`
}

// takeoverAt is when the heartbeat starts that takes p's copies over if
// it fails too: one timeout after the later of its last contact and its
// last failed heartbeat's start per failure still missing (due), or the
// bound timeout × retries after the last contact of any kind
// (LastHeard, takeoverBound), when that is later — the heartbeat the
// bound makes due (deferredDue), not the next one of the timeout's
// schedule. The one computation of the view and of the schedule: a
// heartbeat starts no earlier than it (due only then), and no later
// than one Step after it (rt40 F3: the view rounded the bound up to
// that schedule while the heartbeats, started up to a Step late, fell
// past it, and the copies were taken over 4 s before the time shown).
func takeoverAt(p Primary, t Timing) time.Time {
	last := p.LastTry
	if p.LastContact.After(last) {
		last = p.LastContact
	}
	left := max(t.Retries-p.Failures, 1)
	at := last.Add(time.Duration(left) * t.Timeout)
	// The store defers the takeover until timeout × retries after the
	// last contact of any kind; the heartbeat then falls due at it.
	bound, ok := takeoverBound(p, t)
	if ok && at.Before(bound) {
		at = bound
	}
	if ok && t.Retries > 0 && p.Failures >= t.Retries && p.LastTry.Before(bound) {
		// The retry count failed before the bound: the store deferred
		// the takeover, and the heartbeat falls due at the bound itself
		// (deferredDue), not a timeout after the last try (rt40 shadow2
		// F1: the view moved to the later time and the takeover came a
		// second before it).
		at = bound
	}
	return at
}

// takeoverBound is timeout × retries after the last contact of any kind
// with p (LastHeard): the store takes no copy over for failed heartbeats
// before it (queue ShadowHeartbeatFailed: ErrTakeoverDeferred). ok is
// false when no bound is set (a timeout of 0, nothing heard).
func takeoverBound(p Primary, t Timing) (time.Time, bool) {
	if t.Timeout <= 0 || p.LastHeard.IsZero() {
		return time.Time{}, false
	}
	return p.LastHeard.Add(time.Duration(t.Retries) * t.Timeout), true
}

// deferredDue reports whether a heartbeat to p is due at now because its
// failures reached the retry count before the takeover bound
// (takeoverBound) and none started since the bound: the store deferred
// the takeover to the first failure past the bound, and that heartbeat
// starts at the bound, not a whole timeout after the deferred one — at
// the time takeoverAt shows. One heartbeat at most: its start (LastTry)
// is past the bound. A contact of any kind since moves the bound on.
func deferredDue(p Primary, now time.Time, t Timing) bool {
	if p.TakenOver || p.Failures < t.Retries || t.Retries <= 0 {
		return false
	}
	bound, ok := takeoverBound(p, t)
	return ok && !now.Before(bound) && p.LastTry.Before(bound) && !p.LastTry.After(now)
}

// Status lists the primaries being watched, by name, as the store holds
// them.
func (m *Manager) Status() []PrimaryStatus {
	ps, err := m.cfg.Store.Primaries()
	if err != nil {
		m.mu.Lock()
		ps = m.known
		m.mu.Unlock()
	}
	t := m.Timing()
	var out []PrimaryStatus
	for _, p := range ps {
		st := PrimaryStatus{Name: p.Name, LastContact: p.LastContact, Failures: p.Failures,
			DatabaseID: p.DatabaseID, TakenOver: p.TakenOver}
		if p.Heard.After(st.LastContact) {
			// A copy it pushed or another contact that is no discard query
			// (which alone moves the heartbeat timer): it was heard from.
			st.LastContact = p.Heard
		}
		st.Refused, st.RefusedSince, st.LastRefused, _ = m.rec.Refusal(p.Name)
		if presented, other, ok := m.rec.refusedHereOf(p.Name); ok {
			// This server refuses its contacts (rt23a F1): the view says
			// what happens to the copies, and when.
			st.Refused += "; " + anotherDatabaseAdvice(p.Name, p.DatabaseID, presented, other)
			if takesOverRefused(p.DatabaseID, presented) && !p.TakenOver {
				st.TakeoverAt = takeoverAt(p, t)
				st.TakeoverBy = st.TakeoverAt.Add(t.CommandTimeout)
			}
		}
		watchErr := m.rec.watchFailure(p.Name, p.DatabaseID)
		if (p.Failures > 0 || watchErr != "") && !p.TakenOver && st.Refused == "" {
			m.mu.Lock()
			st.Unreachable = m.failedWhy[p.Name]
			m.mu.Unlock()
			switch {
			case p.Failures == 0:
				// No heartbeat failed yet, but its watch sessions do:
				// unreachable now, not healthy until the next heartbeat
				// (rt27 F8); the takeover needs the heartbeats' count.
				st.Unreachable = "watch session failed: " + watchErr
			case st.Unreachable == "":
				st.Unreachable = "heartbeats fail" // failed before this start
			}
			st.TakeoverAt = takeoverAt(p, t)
			st.TakeoverBy = st.TakeoverAt.Add(t.CommandTimeout)
			m.mu.Lock()
			st.TakeoverWaiting = m.recordFailing[p.Name]
			m.mu.Unlock()
			if p.Heard.After(p.LastContact) && m.cfg.Clock.Now().Sub(p.Heard) < 2*t.Timeout {
				// This server cannot reach it, it reaches this server:
				// its session is the last contact, not this server's.
				// Only while that session is recent (two heartbeat
				// timeouts, as a primary judges a holder silent): a
				// primary that died right after its last session here
				// reaches nothing, and reads unreachable.
				st.ReachesHere, st.PushedHere = p.Heard, p.Pushed
			}
		}
		disowned := false
		if dr, ok := m.cfg.Store.(DisownReader); ok && !p.TakenOver {
			if reply, expiry := dr.DisownedUntil(p.Name); reply != "" {
				// Its failed heartbeats take nothing over (ErrDisowned):
				// no takeover is announced but the copies' expiry
				// (shfix27 F4).
				why := "refused this server's database as another server's: taken over only at the copies' expiry"
				if !expiry.IsZero() {
					why += " " + expiry.UTC().Format(time.RFC3339)
				}
				if st.Unreachable != "" {
					why += "; heartbeats fail: " + st.Unreachable
				}
				if st.Refused == "" {
					st.Refused = reply
				}
				st.Refused += "; " + why
				st.Unreachable, st.TakeoverAt, st.TakeoverBy, st.TakeoverWaiting = "", time.Time{}, time.Time{}, ""
				disowned = true
			}
		}
		if _, _, own := m.rec.ownRefusal(p.Name); own && !disowned {
			// Its copies are its own to expire (KeepExpiredCopies, the
			// queue's expiry pass): not taken over while it refuses.
			st.ExpiryKept = "its copies are kept past their expiry while it refuses (it owns their expiry: delivered or bounced there), until it lets this server in or its failed heartbeats take them over"
		}
		if p.TakenOver && st.Refused == "" {
			m.mu.Lock()
			last := m.failedWhy[p.Name]
			m.mu.Unlock()
			// The count that made the takeover, in the words of its log
			// line (rt16a F2): the failures counted since are FAILED
			// HEARTBEATS. A takeover recorded by an older release kept
			// no count: the failures stand for it.
			n := p.TakeoverFailures
			if n == 0 {
				n = p.Failures
			}
			switch {
			case p.Failures == 0:
				// A push or another contact that is no discard query
				// since: the count starts again, the takeover stays.
				st.TakenOverWhy = takenOverWhy(n) + "; the primary was heard from since, no heartbeat failed after"
				if n == 0 {
					st.TakenOverWhy = "heartbeats failed; the primary was heard from since, no heartbeat failed after"
				}
			case last == "":
				st.TakenOverWhy = takenOverWhy(n) // before this start
			default:
				st.TakenOverWhy = takenOverWhy(n) + ", the last: " + last
			}
		}
		out = append(out, st)
	}
	// A server whose contacts this server refuses keeps its row while
	// the refusal stands, though no copy is held for it any more (its
	// copies were taken over and went on, rt24a F1): relays skip it,
	// and the operator must see why. Memory, as every refusal: after a
	// restart, from its next refused session (a relay tried to it).
	listed := map[string]bool{} // by nameKey: one row per server, whatever its spelling
	for _, st := range out {
		listed[nameKey(st.Name)] = true
	}
	for _, h := range m.rec.refusedHereAll() {
		if listed[nameKey(h.primary)] || !m.rec.knownServer(h.primary) {
			continue // its row, or a server removed from the topology
		}
		out = append(out, PrimaryStatus{Name: h.primary, Refused: h.reply + "; " + refusedNoCopiesAdvice(h.primary, h.presented, h.other),
			RefusedSince: h.since, LastRefused: h.last})
	}
	// A holder whose sessions are refused here (it gets no copy on
	// receipt but its try once a minute): a row of its own when it has
	// none (rt29a F2: shadow list said nothing while every copy, and
	// with reject_on_shadow_failure every message, was refused).
	for _, h := range m.rec.holdersRefused() {
		if listed[nameKey(h.Server)] || !m.rec.knownServer(h.Server) {
			continue
		}
		listed[nameKey(h.Server)] = true
		out = append(out, PrimaryStatus{Name: h.Server, Refused: h.Why, RefusedSince: h.Since, LastRefused: h.LastRefused})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// refusedHereRow is a server whose contacts this server refuses
// (refusedHere), for Status.
type refusedHereRow struct {
	primary, presented, other, reply string
	since, last                      time.Time
}

// refusedHereAll lists the servers whose last session this server
// refused for presenting another server's database id.
func (r *Recorder) refusedHereAll() []refusedHereRow {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []refusedHereRow
	for _, f := range r.refusals {
		if f.here {
			out = append(out, refusedHereRow{primary: f.name, presented: f.presented, other: f.other, reply: f.reply, since: f.since, last: f.last})
		}
	}
	return out
}

// refusedNoCopiesAdvice is what the operator does about a server whose
// contacts are refused here and for which no copy is held.
func refusedNoCopiesAdvice(primary, presented, other string) string {
	if other == "" {
		other = "another server"
	}
	return "no copy held here for " + primary + "; no message is relayed to it (they go to the other servers of its hop, or wait) while it presents " + other +
		"'s transport database id: give the server that runs the copy a data dir of its own, then, if " + primary +
		" is the id's owner, run umbra shadow forget-database " + presented + " on this server"
}

// MarkStore is implemented by a Store that keeps rollback marks (queue
// marks.go): MarkSeen compares the mark a primary presented (database
// dbID) with the highest seen for it, and takes every copy held for it
// over when it is less for the same database id — an older copy of the
// primary's database was put back (a VM snapshot, a file copy), which
// keeps its id.
type MarkStore interface {
	// MarkFloor is the highest mark stored for primary and its database
	// id, read before the command whose reply presents one.
	MarkFloor(primary string) (mark uint64, dbID string)
	MarkSeen(primary, dbID string, mark, floor uint64, floorDB string) (rolledBack bool, taken int, err error)
}

// MarkFloor returns the floor a mark presented by primary name is
// compared with (MarkStore.MarkFloor), read before the command that asks.
func (r *Recorder) MarkFloor(name string) (uint64, string) {
	if ms, ok := r.store.(MarkStore); ok {
		return ms.MarkFloor(name)
	}
	return 0, ""
}

// MarkSeen records a rollback mark the primary name presented in a
// session this server opened (shadow verbs version 7), before anything
// else of the session is saved: a rolled-back primary's copies are
// taken over (counted as a takeover by the queue) instead of being
// asked about.
func (r *Recorder) MarkSeen(name, dbID string, mark, floor uint64, floorDB string) {
	ms, ok := r.store.(MarkStore)
	if !ok {
		return
	}
	// A rollback's takeover is counted by the queue that made it (its
	// logTakeover, ManagerConfig.Takeovers), whoever asked: a shadow
	// session's mark on the receiving side too, which no Recorder sees.
	_, _, err := ms.MarkSeen(name, dbID, mark, floor, floorDB)
	if err != nil {
		r.log.Error("recording a primary's rollback mark failed", "primary", name, "err", err)
	}
}

// takenOverWhy is why copies were taken over for failed heartbeats, in
// the takeover's log line and shadow list's WHY alike: the count that
// made the takeover.
func takenOverWhy(failures int) string {
	return fmt.Sprintf("%d heartbeats failed", failures)
}

// KeepExpiredCopies implements the queue's expiry keeper (queue
// SetExpiryKeeper; wired by the composition root): why the expired,
// unconfirmed copies held for primary are kept rather than taken over,
// "" when they are taken over at their expiry as before (shadow31 S3).
//
// A primary whose last session with this server it answered and
// refused, presenting the digest of the database the copies were made
// against (the Recorder's refusal, not one of this server's: Judging a
// refusal), is alive with their mail: it owns their expiry — it
// delivered them, or bounces them at its own —, and its discards cannot
// reach this server while it refuses, so a takeover at the copies'
// expiry delivered them a second time. They are kept until it lets a
// session of this server in (its discards, or the reconciliation's
// question, settle them) or stops answering: its failed heartbeats then
// take them over, as any primary's. The refusal that keeps them is the
// primary's last own one (Recorder.owns), apart from the views': one
// failed heartbeat does not end it (the primary may be alive and
// refusing still; only the takeover by failed heartbeats does), and a
// refusal without the digest — a primary proved of an earlier release,
// or whatever took its address — keeps nothing: the copies' expiry is
// the one bound of trusting it (earlierrelease.go). The refusals are memory: for the
// first two heartbeat timeouts after this start, before a heartbeat
// could judge every primary, no expired copy is taken over either (the
// queue's expiry pass runs at the start and then hourly).
func (m *Manager) KeepExpiredCopies(primary string) string {
	if reply, since, ok := m.rec.ownRefusal(primary); ok {
		return fmt.Sprintf("the primary answers and refuses this server with the database the copies were made against (since %s: %s): it owns their expiry",
			since.UTC().Format(time.RFC3339), reply)
	}
	if m.cfg.Clock.Now().Sub(m.started) < 2*m.Timing().Timeout {
		return "not judged since this server started (its first heartbeat is at most a heartbeat timeout away): a refusing primary owns their expiry"
	}
	return ""
}

// refusalWarnEvery paces the WARN of a primary that refuses every
// heartbeat (rt32a: one per heartbeat, every 2 s there).
const refusalWarnEvery = time.Minute

// warnedRefusal is the last WARN of a primary's refused heartbeat.
type warnedRefusal struct {
	reply string
	at    time.Time
}

// refusalWarnDue reports whether primary's heartbeat refused with reply
// is logged at WARN — the first refusal since another outcome, a reply
// other than the last one warned of, or a minute since that WARN — and
// records it when so; m.mu held.
func (m *Manager) refusalWarnDue(primary, reply string) bool {
	now := m.cfg.Clock.Now()
	w, ok := m.refusalWarned[primary]
	if ok && w.reply == reply && now.Sub(w.at) < refusalWarnEvery && !now.Before(w.at) {
		return false
	}
	m.refusalWarned[primary] = warnedRefusal{reply: reply, at: now}
	return true
}
