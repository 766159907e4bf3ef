package delivery

import (
	"strings"
	"time"

	"umbra/internal/queue"
)

// Destination health is the scheduler's (queue.Health, SR-16): delivery
// marks what its sessions and heartbeats learn and tries marked servers
// last. These helpers order a route's hosts by it.

// orderOrg moves the unresponsive servers of a site's list to its end,
// keeping the balanced order otherwise.
func orderOrg(h *queue.Health, names, addrs []string) ([]string, []string) {
	var n, a, lateN, lateA []string
	for i := range addrs {
		if h.Unhealthy(names[i], addrs[i]) {
			lateN, lateA = append(lateN, names[i]), append(lateA, addrs[i])
			continue
		}
		n, a = append(n, names[i]), append(a, addrs[i])
	}
	return append(n, lateN...), append(a, lateA...)
}

// orderHosts does the same for a send connector's hosts.
func orderHosts(h *queue.Health, hosts []host) []host {
	var ok, late []host
	for _, x := range hosts {
		if h.Unhealthy(x.name, x.addr) {
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
// so, since the health record lives in memory.
func (d *Deliverer) MarkUnresponsive(server, addr string, since time.Time) {
	hostAddr, _, _ := strings.Cut(addr, " via ")
	d.health.Unresponsive(since, "failed heartbeats before the restart", server, hostAddr)
}
