package ratelimit

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
)

// maxKeys bounds the counters kept (every scope together).
const maxKeys = 200000

// Counters are the rate counters of every connector and scope. They
// belong to the process, not to a configuration: a reload builds new
// Checks over the same Counters, so no count starts again. Safe for
// concurrent use.
type Counters struct {
	clk clock.Clock

	mu      sync.Mutex
	windows map[string]*window
	ops     int // operations since the last sweep

	refused *prometheus.CounterVec // connector, scope, kind
	tracked prometheus.GaugeFunc
}

// window is a sliding-window counter: the events of the current fixed
// window and of the one before; the estimate weights the previous
// window by how much of it the sliding window still covers (the
// approximation Cloudflare and nginx use, exact when events are even).
type window struct {
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
	c := &Counters{clk: clk, windows: map[string]*window{},
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

// Known zero-fills the refusal series of a connector.
func (c *Counters) Known(connector string) {
	for _, s := range Scopes {
		for _, k := range Kinds {
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
// its limit, nothing is counted and that rule is returned.
func (c *Counters) take(connector string, evs []event) (refused *event) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	for i := range evs {
		e := &evs[i]
		w := c.windows[e.key]
		if w == nil {
			continue
		}
		w.advance(now, e.length)
		if w.estimate(now)+1 > float64(e.limit) {
			c.refused.WithLabelValues(connector, e.scope, e.kind).Inc()
			return e
		}
	}
	for _, e := range evs {
		w := c.windows[e.key]
		if w == nil {
			w = &window{length: e.length, start: now}
			c.windows[e.key] = w
		}
		w.advance(now, e.length)
		w.cur++
		w.lastUpdate = now
	}
	return nil
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
// nothing any more); it runs every 1024 operations, or when the map is
// full. Past maxKeys after a sweep, the least recently updated go.
func (c *Counters) sweep(now time.Time) {
	c.ops++
	if c.ops < 1024 && len(c.windows) < maxKeys {
		return
	}
	c.ops = 0
	for k, w := range c.windows {
		if now.Sub(w.lastUpdate) >= 2*w.length {
			delete(c.windows, k)
		}
	}
	if len(c.windows) >= maxKeys {
		// Still full of live counters: drop the least recently updated
		// eighth at once, so that a flood of new keys costs one sort per
		// maxKeys/8 of them, not a scan per key.
		keys := make([]string, 0, len(c.windows))
		for k := range c.windows {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return c.windows[keys[i]].lastUpdate.Before(c.windows[keys[j]].lastUpdate) })
		for _, k := range keys[:len(keys)/8+1] {
			delete(c.windows, k)
		}
	}
}

// Len is the number of counters kept.
func (c *Counters) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.windows)
}
