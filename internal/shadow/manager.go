package shadow

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"umbra/internal/clock"
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
}

// ContactResult is what the store changed on a contact.
type ContactResult struct {
	OldDatabaseID string // set when the primary presented a new database id
	TakenOver     int
	Discarded     int
	Retried       int // taken-over copies made due again
}

// Store is the part of the queue the manager needs. Each call is one
// commit: the primary's state changes together with the copies.
type Store interface {
	// Primaries lists every primary copies are held for, taken over or not.
	Primaries() ([]Primary, error)
	// Contact records a successful session with its discard
	// notifications: a database id other than the stored one takes every
	// copy over (SR-7); otherwise the discards are applied (SR-3).
	Contact(primary, dbID string, discards []string) (ContactResult, error)
	// Presented records what a session learned without completing a
	// discard query: the database id of its XSHADOW reply (another id
	// than the stored one takes every copy over, SR-7) and the
	// notifications of the batches it read before it broke (applied,
	// SR-3). It is not a contact: the heartbeat timer stays as it is
	// (SR-5).
	Presented(primary, dbID string, discards []string) (ContactResult, error)
	// HeartbeatFailed counts a failed heartbeat that started at started
	// and takes the copies over at retries consecutive failures (SR-6).
	HeartbeatFailed(primary string, started time.Time, retries int, reason string) (failures, taken int, err error)
}

// Heartbeater opens a session to a primary only to query discard
// notifications (W-5) and returns its database id and the notifications;
// with an error, those of the batches read before it (the primary
// forgets a batch when asked for the next one).
type Heartbeater interface {
	Heartbeat(ctx context.Context, primary, addr string) (dbID string, discards []string, err error)
}

// Observer counts what the manager does (metrics).
type Observer interface {
	// Heartbeat counts regular heartbeats, not the watch sessions of Expedite.
	Heartbeat(ok bool)
	DiscardsReceived(n int)
	Takeover(messages int)
}

type nopObserver struct{}

func (nopObserver) Heartbeat(bool)       {}
func (nopObserver) DiscardsReceived(int) {}
func (nopObserver) Takeover(int)         {}

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
	// Heartbeater may be set after New, before Run.
	Heartbeater Heartbeater
	Observer    Observer
}

// Timing is the part of Config a reload may change.
type Timing struct {
	Timeout        time.Duration
	Retries        int
	CommandTimeout time.Duration
}

// Manager tracks the primaries this server shadows for. Its memory is a
// cache of the store (Status); decisions read the store.
type Manager struct {
	cfg    Config
	mu     sync.Mutex
	timing Timing
	known  []Primary            // as last read from the store
	flight map[string]time.Time // sessions in flight: flightKey → deadline
	urgent map[string]time.Time // primaries senders wait on (Expedite), until when
	kick   chan struct{}
	wg     sync.WaitGroup
	// watching lists the primaries with a watch session (watch.go);
	// runCtx is Run's context, which those sessions live in.
	watching map[string]bool
	runCtx   context.Context
}

// expediteFor is how long a primary stays urgent after a request: its
// watch session stays open that long after the last waiting sender.
const expediteFor = time.Minute

// New returns a manager; Run drives it.
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
	m := &Manager{cfg: cfg, flight: map[string]time.Time{}, urgent: map[string]time.Time{}, kick: make(chan struct{}, 1),
		watching: map[string]bool{}}
	m.SetTiming(Timing{Timeout: cfg.Timeout, Retries: cfg.Retries, CommandTimeout: cfg.CommandTimeout})
	return m
}

// SetTiming applies new heartbeat settings (a configuration reload); the
// next step uses them. Stored failures count against the new retry count.
func (m *Manager) SetTiming(t Timing) {
	if t.Retries < 1 {
		t.Retries = 1
	}
	if t.CommandTimeout <= 0 || t.CommandTimeout > t.Timeout && t.Timeout > 0 {
		t.CommandTimeout = t.Timeout
	}
	m.mu.Lock()
	m.timing = t
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
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

// SetHeartbeater wires the SMTP side (it is built after the manager).
func (m *Manager) SetHeartbeater(h Heartbeater) { m.cfg.Heartbeater = h }

// Contact records a discard query completed with a primary — at the end
// of (or during) a delivery session, a heartbeat, a watch session — with
// the discard notifications it returned. The store resets the heartbeat
// timer (SR-5), applies the discards (SR-3), and takes over at once when
// the primary's database id differs from the stored one (SR-7), in one
// commit. Only a completed query resets the timer: it bounds how long a
// discard committed at the primary waits to be fetched, whatever other
// sessions come and go (an XSHADOW reply alone is Presented).
func (m *Manager) Contact(name, dbID string, discards []string) {
	if len(discards) > 0 {
		m.cfg.Observer.DiscardsReceived(len(discards))
	}
	res, err := m.cfg.Store.Contact(name, dbID, discards)
	if err != nil {
		m.cfg.Log.Error("recording a contact with a primary failed", "primary", name, "err", err)
		return
	}
	m.contacted(name, dbID, discards, res)
}

// Presented records what a session with a primary learned without
// completing a discard query: the database id of an XSHADOW reply (W-6;
// a new one takes its copies over at once, SR-7), and the notifications
// of the batches read before the session broke — the primary forgot
// those when this server asked for the next batch (SR-15), so they are
// applied, never dropped. The heartbeat timer is not reset.
func (m *Manager) Presented(name, dbID string, discards []string) {
	if len(discards) > 0 {
		m.cfg.Observer.DiscardsReceived(len(discards))
	}
	res, err := m.cfg.Store.Presented(name, dbID, discards)
	if err != nil {
		m.cfg.Log.Error("recording a primary's database id failed", "primary", name, "err", err)
		return
	}
	m.contacted(name, dbID, discards, res)
}

// contacted logs and counts what a contact changed.
func (m *Manager) contacted(name, dbID string, discards []string, res ContactResult) {
	if len(discards) > 0 {
		m.cfg.Log.Debug("discard notifications received", "primary", name, "ids", len(discards), "discarded", res.Discarded)
	}
	if res.OldDatabaseID != "" {
		m.cfg.Observer.Takeover(res.TakenOver)
		m.cfg.Log.Warn("took over shadow copies", "primary", name, "messages", res.TakenOver,
			"reason", "it returned with a new transport database", "database_id", dbID, "was", res.OldDatabaseID)
	}
	if res.Retried > 0 {
		m.cfg.Log.Info("primary answers again; its taken-over copies are routed now", "primary", name, "messages", res.Retried)
	}
}

// due reports whether a heartbeat to p is due at now: one timeout after
// the last contact or after the start of the last failed heartbeat,
// whichever is later — so a hung heartbeat costs no extra timeout (SR-16).
func due(p Primary, now time.Time, timeout time.Duration) bool {
	last := p.LastContact
	if p.LastTry.After(last) {
		last = p.LastTry
	}
	return now.Sub(last) >= timeout
}

// Step starts the heartbeats that are due, each in its own goroutine
// bounded by the command timeout, so one hung primary delays no other,
// and (re)starts the watch sessions of primaries senders wait on. A
// primary has at most one heartbeat in flight; a watch session never
// holds one back.
func (m *Manager) Step(ctx context.Context) {
	primaries, err := m.cfg.Store.Primaries()
	if err != nil {
		m.cfg.Log.Error("listing shadow primaries failed", "err", err)
		return
	}
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	t := m.timing
	m.known = primaries
	listed := map[string]bool{}
	for _, p := range primaries {
		listed[p.Name] = true
	}
	for name, until := range m.urgent {
		if !listed[name] || now.After(until) {
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
		if !due(p, now, t.Timeout) || m.busy(p.Name) {
			continue
		}
		// The bound is armed here, before the goroutine runs, so that a
		// test's fake clock sees it at once.
		s := start{p: p, timer: m.cfg.Clock.NewTimer(t.CommandTimeout)}
		m.flight[p.Name] = now.Add(t.CommandTimeout)
		starts = append(starts, s)
	}
	m.mu.Unlock()
	for _, name := range quick {
		m.startWatch(name) // started before Run, or ended early: (re)start it
	}
	for _, s := range starts {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.session(ctx, s.p, now, s.timer, t.Retries)
		}()
	}
}

// busy reports whether a heartbeat to primary is in flight; m.mu held.
func (m *Manager) busy(primary string) bool {
	_, ok := m.flight[primary]
	return ok
}

// session runs one heartbeat to p, cut off when timer fires.
func (m *Manager) session(ctx context.Context, p Primary, started time.Time, timer clock.Timer, retries int) {
	defer func() {
		m.mu.Lock()
		delete(m.flight, p.Name)
		m.mu.Unlock()
	}()
	hctx, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-timer.C():
			cancel()
		case <-stop:
			timer.Stop()
		}
	}()
	dbID, discards, err := m.cfg.Heartbeater.Heartbeat(hctx, p.Name, p.Addr)
	close(stop)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: not the primary's fault
	}
	m.cfg.Observer.Heartbeat(err == nil)
	if err == nil {
		m.Contact(p.Name, dbID, discards)
		return
	}
	if len(discards) > 0 {
		m.Presented(p.Name, dbID, discards) // read before it broke: forgotten at the primary
	}
	if hctx.Err() != nil {
		err = context.DeadlineExceeded // the bound, not an error of the primary's making
	}
	failures, taken, serr := m.cfg.Store.HeartbeatFailed(p.Name, started, retries, err.Error())
	if serr != nil {
		m.cfg.Log.Error("recording a failed heartbeat failed", "primary", p.Name, "err", serr)
		return
	}
	if failures >= retries && taken > 0 {
		m.cfg.Observer.Takeover(taken)
		m.cfg.Log.Warn("took over shadow copies", "primary", p.Name, "messages", taken,
			"reason", "heartbeats failed", "failures", failures, "err", err)
		return
	}
	m.cfg.Log.Warn("heartbeat failed", "primary", p.Name, "addr", p.Addr, "failures", failures, "of", retries, "err", err)
}

// Run steps until ctx ends, a few times per timeout, then waits for the
// sessions in flight.
func (m *Manager) Run(ctx context.Context) {
	defer m.wg.Wait()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	for {
		every := m.Timing().Timeout / 4
		if every > time.Second || every <= 0 {
			every = time.Second
		}
		t := m.cfg.Clock.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.kick:
		case <-t.C():
		}
		t.Stop()
		m.Step(ctx)
	}
}

// Wait waits for the heartbeats in flight.
func (m *Manager) Wait() { m.wg.Wait() }

// PrimaryStatus is what the manager knows of one primary.
type PrimaryStatus struct {
	Name        string    `json:"primary"`
	LastContact time.Time `json:"last_contact"`
	Failures    int       `json:"failed_heartbeats"`
	DatabaseID  string    `json:"database_id,omitempty"`
	TakenOver   bool      `json:"taken_over,omitempty"`
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
	var out []PrimaryStatus
	for _, p := range ps {
		out = append(out, PrimaryStatus{Name: p.Name, LastContact: p.LastContact, Failures: p.Failures,
			DatabaseID: p.DatabaseID, TakenOver: p.TakenOver})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
