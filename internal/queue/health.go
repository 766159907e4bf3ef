package queue

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Health is the scheduler's record of servers that did not answer: a
// server that failed a heartbeat (SR-16) is tried after every other
// server of its route at once — not after a command timeout of its own —
// until a session with it succeeds again. Keys are server names and
// addresses ("host:port"), so a mark made by a heartbeat (which knows the
// primary's name and the address it reached) applies to relays inside
// the organisation and to send connectors' smart hosts alike.
//
// The scheduler owns it (Manager.Health) beside the destinations'
// windows; delivery is handed the same record, marks what its sessions
// learn and orders a route's hosts by it. It lives in memory: at start
// the stored shadow state of failing primaries is marked again.
type Health struct {
	mu  sync.Mutex
	bad map[string]HealthMark
	// with links the keys marked together (a server's name and the
	// addresses it was reached at): an answer under one clears them all,
	// so the address a server was at before it moved does not stay
	// marked — and listed in queue destinations — for good.
	with map[string]map[string]bool
	// probeEvery is how often a marked server is tried in its normal
	// place anyway (Last): the scheduler's dead destination cool-down.
	probeEvery time.Duration
}

// defaultProbeEvery is probeEvery until the scheduler sets its
// cool-down (SchedulerConfig.DeadCoolDown's default).
const defaultProbeEvery = 5 * time.Minute

// HealthMark is why and since when a server is tried last.
type HealthMark struct {
	Since time.Time `json:"since"`
	Why   string    `json:"why"`
	// last is the latest failure or probe (Probe).
	last time.Time
}

// NewHealth returns an empty record.
func NewHealth() *Health {
	return &Health{bad: map[string]HealthMark{}, with: map[string]map[string]bool{}, probeEvery: defaultProbeEvery}
}

// SetProbeEvery sets how often a marked server is probed (Last); the
// manager sets the scheduler's dead destination cool-down.
func (h *Health) SetProbeEvery(d time.Duration) {
	if d <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probeEvery = d
}

// Last reports whether a route's server is tried after the unmarked
// ones now: it is marked under one of its keys, and no probe of it is
// due. Once per probe interval (the dead destination cool-down) a marked
// server keeps its normal place for one ordering, as a dead destination
// gets one connection after its cool-down: a session with it that
// succeeds clears the mark (Responsive), one that fails leaves it for
// another interval. Without the probe a server marked when its last
// copy went (a primary whose taken-over copies all went on: no
// heartbeat is sent to it any more), or marked for copies (a full disk:
// only a message it takes clears that), would never be tried again
// while another server of the route answers (rt35 F6).
func (h *Health) Last(now time.Time, keys ...string) bool {
	return h.Unhealthy(keys...) && !h.Probe(now, h.every(), keys...)
}

func (h *Health) every() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.probeEvery
}

// link records that keys name one server.
func (h *Health) link(keys []string) {
	for _, a := range keys {
		for _, b := range keys {
			if a == "" || b == "" || a == b {
				continue
			}
			if h.with[a] == nil {
				h.with[a] = map[string]bool{}
			}
			h.with[a][b] = true
		}
	}
}

// drop removes the mark and the links of k. Called with h.mu held.
func (h *Health) drop(k string) {
	delete(h.bad, k)
	for o := range h.with[k] {
		delete(h.with[o], k)
		if len(h.with[o]) == 0 {
			delete(h.with, o)
		}
	}
	delete(h.with, k)
}

// Unresponsive marks a server under every key given (its name, its
// address): it failed at since. An earlier mark is kept, with since as
// its latest failure.
func (h *Health) Unresponsive(since time.Time, why string, keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if k == "" {
			continue
		}
		m, ok := h.bad[k]
		if !ok {
			m = HealthMark{Since: since, Why: why}
		}
		if since.After(m.last) {
			m.last = since
		}
		h.bad[k] = m
	}
	h.link(keys)
}

// Probe reports whether a marked server is due a probe: its latest
// failure or probe is every or more before now. It answers true to one
// caller per every (the probe is recorded), which then tries the server
// in its normal place; a success clears the mark (Responsive), a failure
// renews it. A user of health that has other servers to go to — the
// copies on receipt, whose marked peer would otherwise never be tried
// while another answers — asks it, so that a server back from a hang is
// found again.
func (h *Health) Probe(now time.Time, every time.Duration, keys ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Due when the latest failure or probe of any of its keys is every
	// or more before now: one key's old mark (a copy refused long ago)
	// does not make a server found hung a moment ago due (rt19f F4).
	marked := false
	for _, k := range keys {
		if m, ok := h.bad[k]; ok {
			if now.Sub(m.last) < every {
				return false
			}
			marked = true
		}
	}
	if !marked {
		return false
	}
	for _, k := range keys {
		if m, ok := h.bad[k]; ok {
			m.last = now
			h.bad[k] = m
		}
	}
	return true
}

// Responsive clears the marks of a server that answered, and those of
// the keys marked together with them (the address it had before it
// moved).
func (h *Health) Responsive(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []string
	for _, k := range keys {
		all = append(all, k)
		for o := range h.with[k] {
			all = append(all, o)
		}
	}
	for _, k := range all {
		h.drop(k)
	}
}

// Forget drops the marks of the keys keep refuses: servers and addresses
// that no longer exist (the topology changed) and that no message waits
// for, which nothing would ever clear. serve calls it at start and on
// reload.
func (h *Health) Forget(keep func(key string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.bad {
		if !keep(k) {
			h.drop(k)
		}
	}
}

// Unhealthy reports whether any of the keys is marked.
func (h *Health) Unhealthy(keys ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if _, ok := h.bad[k]; ok {
			return true
		}
	}
	return false
}

// Marks lists the marked keys in order.
func (h *Health) Marks() ([]string, []HealthMark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.bad))
	for k := range h.bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	marks := make([]HealthMark, len(keys))
	for i, k := range keys {
		marks[i] = h.bad[k]
	}
	return keys, marks
}

// ServerMark is one server of the marks (Servers): the spelling it is
// listed by, the addresses it was marked at, and its mark.
type ServerMark struct {
	Name  string
	Addrs []string
	HealthMark
}

// Servers is the marks one row per server (queue destinations): the
// spellings of one name (without letter case and final dot, as server
// names are compared) are one server, whichever caller marked it under
// which, and the addresses marked together with it (a name and its
// address: link) are listed in its row, not as servers of their own
// (rt34 O2: three rows for one peer). Two names are never one row: an
// address linked to both (the address one server had before it moved,
// given to another since: the link stays while neither leaves the
// topology) is listed in each one's row (rr35 opsshadow). A key marked
// alone under an address is a row of its own. Keys with a prefix (a
// refusal of copies or of a session) stay rows of their own: they say
// another thing.
func (h *Health) Servers() []ServerMark {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]string, 0, len(h.bad))
	for k := range h.bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fold := func(k string) string { return strings.ToLower(strings.TrimSuffix(k, ".")) }
	rows := map[string]*ServerMark{} // by a name's fold, or an address alone
	var out []*ServerMark
	add := func(row *ServerMark, k string) {
		m := h.bad[k]
		if row.Since.IsZero() || m.Since.Before(row.Since) {
			row.Since = m.Since
		}
		if row.Why == "" || m.last.After(row.last) {
			row.last, row.Why = m.last, m.Why
		}
	}
	rowOf := func(id string) *ServerMark {
		row := rows[id]
		if row == nil {
			row = &ServerMark{}
			rows[id] = row
			out = append(out, row)
		}
		return row
	}
	for _, k := range keys {
		if healthAddr(k) {
			continue
		}
		row := rowOf("name\x00" + fold(k))
		if row.Name == "" {
			row.Name = k
		}
		add(row, k)
	}
	for _, k := range keys {
		if !healthAddr(k) {
			continue
		}
		var names []string
		for o := range h.with[k] {
			if _, ok := h.bad[o]; ok && !healthAddr(o) && !healthPrefixed(o) {
				names = append(names, "name\x00"+fold(o))
			}
		}
		sort.Strings(names)
		names = slices.Compact(names)
		if len(names) == 0 {
			row := rowOf("addr\x00" + k)
			row.Name = k
			add(row, k)
			continue
		}
		for _, id := range names {
			row := rows[id]
			row.Addrs = append(row.Addrs, k)
			add(row, k)
		}
	}
	res := make([]ServerMark, 0, len(out))
	for _, row := range out {
		res = append(res, *row)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Name < res[j].Name })
	return res
}

// healthAddr reports whether a health key is an address ("host:port"),
// not a server's name or a prefixed key ("refused:NAME").
func healthAddr(k string) bool {
	i := strings.LastIndexByte(k, ':')
	if i <= 0 || i == len(k)-1 {
		return false
	}
	host := k[:i]
	if strings.Contains(host, ":") && !(strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")) {
		return false // "refused:NAME:…" or an IPv6 address without brackets
	}
	_, err := strconv.ParseUint(k[i+1:], 10, 16)
	return err == nil
}

// healthPrefixed reports whether a health key is a prefixed one
// ("refused:NAME", "copies:NAME"): a row of its own.
func healthPrefixed(k string) bool { return !healthAddr(k) && strings.Contains(k, ":") }
