package ratelimit

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
)

// maxKeys bounds the counters kept (every scope together); each scope
// has its own quarter (maxScopeKeys), so a flood of one scope's keys
// (sender domains made up by one client) cannot push out another
// scope's counters.
const (
	maxKeys      = 200000
	maxScopeKeys = maxKeys / 4
)

// Counters are the rate counters of every connector and scope. They
// belong to the process, not to a configuration: a reload builds new
// Checks over the same Counters, so no count starts again. Safe for
// concurrent use.
type Counters struct {
	clk clock.Clock

	mu      sync.Mutex
	windows map[string]*window
	scopes  map[string]int // counters kept per scope
	// noRoom: the scope was found full of protected counters; until
	// then new keys are refused without scanning it again (a flood
	// must not cost a scan of every counter per command).
	noRoom map[string]time.Time
	ops    int // operations since the last sweep

	refused *prometheus.CounterVec // connector, scope, kind
	tracked prometheus.GaugeFunc
}

// window is a sliding-window counter: the events of the current fixed
// window and of the one before; the estimate weights the previous
// window by how much of it the sliding window still covers (the
// approximation Cloudflare and nginx use, exact when events are even).
type window struct {
	scope      string
	limit      int // of the rule last counted ("0": not known, restored)
	length     time.Duration
	start      time.Time
	cur, prev  int
	lastUpdate time.Time
}

// NewCounters returns empty counters; reg gets the metrics (nil: none).
func NewCounters(clk clock.Clock, reg prometheus.Registerer) *Counters {
	if clk == nil {
		clk = clock.Real{}
	}
	c := &Counters{clk: clk, windows: map[string]*window{}, scopes: map[string]int{}, noRoom: map[string]time.Time{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "umbra_ratelimit_refusals_total",
			Help: "Connections, messages and recipients refused by a receive connector's rate limits, by scope (address, network, user, sender_domain) and kind (connections, messages, recipients)."},
			[]string{"connector", "scope", "kind"}),
	}
	c.tracked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_ratelimit_tracked_keys",
		Help: "Rate counters kept (addresses, networks, users and sender domains with recent events)."},
		func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(len(c.windows)) })
	if reg != nil {
		reg.MustRegister(c.refused, c.tracked)
	}
	return c
}

// Known zero-fills the refusal series of a connector that can count:
// connections only per address and network (neither a user nor a sender
// domain is known at connect; config refuses such a limit).
func (c *Counters) Known(connector string) {
	for _, s := range Scopes {
		for _, k := range Kinds {
			if k == KindConnections && s != ScopeAddress && s != ScopeNetwork {
				continue
			}
			c.refused.WithLabelValues(connector, s, k)
		}
	}
}

// Scopes and kinds (metric label values).
var (
	Scopes = []string{ScopeAddress, ScopeNetwork, ScopeUser, ScopeSenderDomain}
	Kinds  = []string{KindConnections, KindMessages, KindRecipients}
)

// Scope and kind names.
const (
	ScopeAddress      = "address"
	ScopeNetwork      = "network"
	ScopeUser         = "user"
	ScopeSenderDomain = "sender_domain"
	KindConnections   = "connections"
	KindMessages      = "messages"
	KindRecipients    = "recipients"
)

// event is one count to take: key names the counter, limit and length
// its rule.
type event struct {
	scope, kind, key string
	limit            int
	length           time.Duration
}

// take counts one event for every rule, or none: when one of them is at
// its limit, nothing is counted and that rule is returned. A rule whose
// scope is full of counters that may not be evicted (makeRoom) refuses
// too: an unknown key could otherwise not be counted at all.
func (c *Counters) take(connector string, evs []event) (refused *event) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	for i := range evs {
		e := &evs[i]
		w := c.windows[e.key]
		if w == nil {
			if c.scopes[e.scope] >= maxScopeKeys && (now.Before(c.noRoom[e.scope]) || !c.makeRoom(e.scope, now)) {
				c.refused.WithLabelValues(connector, e.scope, e.kind).Inc()
				return e
			}
			continue
		}
		w.advance(now, e.length)
		w.limit = e.limit
		if w.estimate(now)+1 > float64(e.limit) {
			c.refused.WithLabelValues(connector, e.scope, e.kind).Inc()
			return e
		}
	}
	for _, e := range evs {
		w := c.windows[e.key]
		if w == nil {
			w = &window{scope: e.scope, limit: e.limit, length: e.length, start: now}
			c.put(e.key, w)
		}
		w.advance(now, e.length)
		w.cur++
		w.lastUpdate = now
	}
	return nil
}

func (c *Counters) put(k string, w *window) {
	if w.scope == "" {
		w.scope = scopeOf(k)
	}
	c.windows[k] = w
	c.scopes[w.scope]++
}

func (c *Counters) del(k string) {
	if w := c.windows[k]; w != nil {
		delete(c.windows, k)
		c.scopes[w.scope]--
	}
}

// scopeOf is the scope part of a counter's key (connector, scope, kind,
// value separated by NUL).
func scopeOf(k string) string {
	parts := strings.SplitN(k, "\x00", 4)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// protected: the counter is at, over or near (three quarters of) its limit. Such
// a counter is never evicted before its windows end (it goes when idle
// for two windows): evicting it would hand its owner a fresh limit, and
// a flood of new keys must not buy that.
func (w *window) protected(now time.Time) bool {
	return w.limit > 0 && 4*w.estimate(now) >= 3*float64(w.limit)
}

// makeRoom frees counters of a full scope, caller holding c.mu: the
// idle ones, then the unprotected ones with the lowest estimate (the
// least recently updated first among equals), an eighth of the scope
// at once so that a flood costs one sort per maxScopeKeys/8 new keys.
// false: every counter of the scope is protected; none was evicted.
func (c *Counters) makeRoom(scope string, now time.Time) bool {
	type cand struct {
		k   string
		est float64
		at  time.Time
	}
	var cands []cand
	for k, w := range c.windows {
		if w.scope != scope {
			continue
		}
		w.advance(now, w.length)
		switch {
		case now.Sub(w.lastUpdate) >= 2*w.length:
			c.del(k)
		case !w.protected(now):
			cands = append(cands, cand{k, w.estimate(now), w.lastUpdate})
		}
	}
	if c.scopes[scope] < maxScopeKeys {
		return true
	}
	if len(cands) == 0 {
		c.noRoom[scope] = now.Add(time.Second)
		return false
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].est != cands[j].est {
			return cands[i].est < cands[j].est
		}
		return cands[i].at.Before(cands[j].at)
	})
	for _, cd := range cands[:min(len(cands), maxScopeKeys/8+1)] {
		c.del(cd.k)
	}
	return true
}

// advance moves the window to now. A changed length (a reload) keeps
// the count of the current window and restarts the windows there.
func (w *window) advance(now time.Time, length time.Duration) {
	if length != w.length {
		w.length, w.prev, w.start = length, 0, now
		return
	}
	if now.Before(w.start) { // the clock stepped back: stay in this window
		return
	}
	n := now.Sub(w.start) / w.length
	switch {
	case n == 0:
		return
	case n == 1:
		w.prev = w.cur
	default:
		w.prev = 0
	}
	w.cur = 0
	w.start = w.start.Add(n * w.length)
}

func (w *window) estimate(now time.Time) float64 {
	elapsed := now.Sub(w.start)
	if elapsed < 0 {
		elapsed = 0
	}
	frac := float64(w.length-elapsed) / float64(w.length)
	return float64(w.prev)*frac + float64(w.cur)
}

// sweep drops counters idle for two of their windows (they count
// nothing any more); it runs every 1024 operations. A full scope makes
// room for itself (makeRoom) without touching the other scopes.
func (c *Counters) sweep(now time.Time) {
	c.ops++
	if c.ops < 1024 {
		return
	}
	c.ops = 0
	for k, w := range c.windows {
		if now.Sub(w.lastUpdate) >= 2*w.length {
			c.del(k)
		}
	}
}

// Len is the number of counters kept.
func (c *Counters) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.windows)
}
