package shadow

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"umbra/internal/clock"
)

// Store is the part of the queue the manager needs.
type Store interface {
	// ShadowPrimaries lists the primaries copies are held for, with their addresses.
	ShadowPrimaries() (map[string]string, error)
	ApplyDiscards(primary string, ids []string) (int, error)
	Takeover(primary, reason string) (int, error)
}

// Heartbeater opens a session to a primary only to query discard
// notifications (W-5) and returns its database id and the notifications.
type Heartbeater interface {
	Heartbeat(ctx context.Context, primary, addr string) (dbID string, discards []string, err error)
}

// Observer counts what the manager does (metrics).
type Observer interface {
	// Heartbeat counts regular heartbeats, not the quick polls of Expedite.
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
	Clock   clock.Clock
	Log     *slog.Logger
	Store   Store
	// Heartbeater may be set after New, before Run.
	Heartbeater Heartbeater
	Observer    Observer
}

// Manager tracks the primaries this server shadows for.
type Manager struct {
	cfg    Config
	mu     sync.Mutex
	ps     map[string]*primary
	urgent map[string]time.Time // primaries senders wait on (Expedite), until when
	kick   chan struct{}
	// watching lists the primaries with a watch session (watch.go);
	// runCtx is Run's context, which those sessions live in.
	watching map[string]bool
	runCtx   context.Context
}

// expediteFor is how long a primary stays urgent after a request: its
// watch session stays open that long after the last waiting sender.
const expediteFor = time.Minute

type primary struct {
	lastContact time.Time
	failures    int
	dbID        string
}

// New returns a manager; Run drives it.
func New(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Retries < 1 {
		cfg.Retries = 1
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Manager{cfg: cfg, ps: map[string]*primary{}, urgent: map[string]time.Time{}, kick: make(chan struct{}, 1), watching: map[string]bool{}}
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

// Contact records a successful session with a primary — a delivery
// session or a heartbeat — with the discard notifications it returned.
// It resets the heartbeat timer (SR-5), applies the discards (SR-3), and
// takes over at once when the primary's database id changed (SR-7).
func (m *Manager) Contact(name, dbID string, discards []string) {
	if len(discards) > 0 {
		m.cfg.Observer.DiscardsReceived(len(discards))
		if n, err := m.cfg.Store.ApplyDiscards(name, discards); err != nil {
			m.cfg.Log.Error("applying discard notifications failed", "primary", name, "err", err)
		} else {
			m.cfg.Log.Debug("discard notifications received", "primary", name, "ids", len(discards), "discarded", n)
		}
	}
	m.mu.Lock()
	p := m.ps[name]
	if p == nil {
		p = &primary{}
		m.ps[name] = p
	}
	changed := p.dbID != "" && dbID != "" && dbID != p.dbID
	old := p.dbID
	if dbID != "" {
		p.dbID = dbID
	}
	p.lastContact, p.failures = m.cfg.Clock.Now(), 0
	m.mu.Unlock()
	if changed {
		m.takeover(name, fmt.Sprintf("it returned with a new transport database (%s, was %s)", dbID, old))
	}
}

// Step runs the heartbeats that are due, one pass.
func (m *Manager) Step(ctx context.Context) {
	primaries, err := m.cfg.Store.ShadowPrimaries()
	if err != nil {
		m.cfg.Log.Error("listing shadow primaries failed", "err", err)
		return
	}
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	for name := range m.ps {
		if _, ok := primaries[name]; !ok {
			delete(m.ps, name) // no copies left: nothing to watch
		}
	}
	for name, until := range m.urgent {
		if _, ok := primaries[name]; !ok || now.After(until) {
			delete(m.urgent, name)
		}
	}
	var due, quick []string
	for name := range primaries {
		p := m.ps[name]
		if p == nil {
			// First seen: the copy was just made in a session with it.
			p = &primary{lastContact: now}
			m.ps[name] = p
		}
		switch {
		case now.Sub(p.lastContact) >= m.cfg.Timeout:
			due = append(due, name)
		case !m.urgent[name].IsZero():
			quick = append(quick, name)
		}
	}
	m.mu.Unlock()
	for _, name := range quick {
		m.startWatch(name) // started before Run, or ended early: (re)start it
	}
	for _, name := range due {
		m.heartbeat(ctx, name, primaries[name])
	}
}

func (m *Manager) heartbeat(ctx context.Context, name, addr string) {
	hctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	dbID, discards, err := m.cfg.Heartbeater.Heartbeat(hctx, name, addr)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: not the primary's fault
	}
	m.cfg.Observer.Heartbeat(err == nil)
	if err == nil {
		m.Contact(name, dbID, discards)
		return
	}
	m.mu.Lock()
	p := m.ps[name]
	if p == nil {
		m.mu.Unlock()
		return
	}
	p.failures++
	p.lastContact = m.cfg.Clock.Now() // the next try comes one timeout later
	failures := p.failures
	m.mu.Unlock()
	m.cfg.Log.Warn("heartbeat failed", "primary", name, "addr", addr, "failures", failures, "of", m.cfg.Retries, "err", err)
	if failures >= m.cfg.Retries {
		m.takeover(name, fmt.Sprintf("%d heartbeats failed, the last: %v", failures, err))
	}
}

func (m *Manager) takeover(name, reason string) {
	n, err := m.cfg.Store.Takeover(name, reason)
	if err != nil {
		m.cfg.Log.Error("takeover failed", "primary", name, "err", err)
		return
	}
	m.cfg.Observer.Takeover(n)
	m.mu.Lock()
	delete(m.ps, name)
	m.mu.Unlock()
	m.cfg.Log.Warn("took over shadow copies", "primary", name, "messages", n, "reason", reason)
}

// Run steps until ctx ends, a few times per timeout.
func (m *Manager) Run(ctx context.Context) {
	every := m.cfg.Timeout / 4
	if every > time.Second {
		every = time.Second
	}
	if every <= 0 {
		every = time.Second
	}
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	for {
		wait := every
		t := m.cfg.Clock.NewTimer(wait)
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

// PrimaryStatus is what the manager knows of one primary.
type PrimaryStatus struct {
	Name        string    `json:"primary"`
	LastContact time.Time `json:"last_contact"`
	Failures    int       `json:"failed_heartbeats"`
	DatabaseID  string    `json:"database_id,omitempty"`
}

// Status lists the primaries being watched, by name.
func (m *Manager) Status() []PrimaryStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []PrimaryStatus
	for name, p := range m.ps {
		out = append(out, PrimaryStatus{Name: name, LastContact: p.lastContact, Failures: p.failures, DatabaseID: p.dbID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
