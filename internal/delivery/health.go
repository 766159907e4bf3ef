package delivery

import (
	"strings"
	"sync"
	"time"
)

// destHealth is the destination-health record: a server that did not
// answer a heartbeat (SR-16) is tried after every other server of its
// route at once — not after a command timeout of its own — until a
// session with it succeeds again. Keys are server names and addresses
// ("host:port"), so a mark made by a heartbeat (which knows the primary's
// name and the address it reached) applies to relays inside the
// organisation and to send connectors' smart hosts alike.
//
// The queue manager's scheduler is to own destination health (with
// concurrency windows and dead destinations); until then this record is
// the one place delivery asks.
type destHealth struct {
	mu  sync.Mutex
	bad map[string]healthMark
}

type healthMark struct {
	since time.Time
	why   string
}

func newDestHealth() *destHealth { return &destHealth{bad: map[string]healthMark{}} }

// unresponsive marks a server: it failed a heartbeat at since.
func (h *destHealth) unresponsive(since time.Time, why string, keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if k == "" {
			continue
		}
		if _, ok := h.bad[k]; !ok {
			h.bad[k] = healthMark{since: since, why: why}
		}
	}
}

// responsive clears the marks of a server that answered.
func (h *destHealth) responsive(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		delete(h.bad, k)
	}
}

func (h *destHealth) isBad(keys ...string) bool {
	for _, k := range keys {
		if _, ok := h.bad[k]; ok {
			return true
		}
	}
	return false
}

// orderOrg moves the unresponsive servers of a site's list to its end,
// keeping the balanced order otherwise.
func (h *destHealth) orderOrg(names, addrs []string) ([]string, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n, a, lateN, lateA []string
	for i := range addrs {
		if h.isBad(names[i], addrs[i]) {
			lateN, lateA = append(lateN, names[i]), append(lateA, addrs[i])
			continue
		}
		n, a = append(n, names[i]), append(a, addrs[i])
	}
	return append(n, lateN...), append(a, lateA...)
}

// orderHosts does the same for a send connector's hosts.
func (h *destHealth) orderHosts(hosts []host) []host {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ok, late []host
	for _, x := range hosts {
		if h.isBad(x.name, x.addr) {
			late = append(late, x)
			continue
		}
		ok = append(ok, x)
	}
	return append(ok, late...)
}

// MarkUnresponsive records that server (at addr: "host:port", or
// "host:port via CONNECTOR") failed a heartbeat at since, as Heartbeat
// does; serve calls it at start for the primaries whose stored state says
// so, since this record lives in memory.
func (d *Deliverer) MarkUnresponsive(server, addr string, since time.Time) {
	hostAddr, _, _ := strings.Cut(addr, " via ")
	d.health.unresponsive(since, "failed heartbeats before the restart", server, hostAddr)
}
