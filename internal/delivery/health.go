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
// keeping the balanced order otherwise; so are those that refused a
// copy or a relay for want of storage (copiesKey, relayStorage). A
// marked server due a probe (queue.Health.Last: once per dead
// destination cool-down) keeps its place, so that one which answers
// again is found although no heartbeat goes to it any more.
func orderOrg(h *queue.Health, names, addrs []string) ([]string, []string) {
	var n, a, lateN, lateA []string
	now := time.Now()
	for i := range addrs {
		if h.Last(now, names[i], addrs[i], copiesKey(names[i]), refusedKey(names[i])) {
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
	now := time.Now()
	for _, x := range hosts {
		if h.Last(now, x.name, x.addr, refusedKey(x.name)) {
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
	d.health.Unresponsive(since, "failed heartbeats before the restart", healthName(d.st.Load(), server), hostAddr) // the topology's spelling (healthName)
}

// relayStorage learns from a relay's results whether the transport
// server name can store messages: one that refused the relay with a
// mail-system status (4.3.x or 5.3.x: 452 4.3.1 from a full disk) is
// marked for copies as a refused copy marks it (copiesKey) — it answers
// sessions and heartbeats, and would otherwise get every other relay of
// its site and every copy on receipt (rt30 F2); one that took a
// recipient clears that mark.
func (d *Deliverer) relayStorage(name string, res []queue.Result) {
	for _, r := range res {
		if r.Outcome == queue.RelayedOK || r.Outcome == queue.ShadowedOK {
			d.health.Responsive(copiesKey(name))
			return
		}
	}
	for _, r := range res {
		if systemStatus(r.Reply) {
			d.health.Unresponsive(time.Now(), "relay refused: "+r.Reply, copiesKey(name))
			return
		}
	}
}

// systemStatus: reply ("452 4.3.1 …") carries an enhanced status of the
// mail system class (X.3.X, RFC 3463: the receiving system's own
// condition, such as its storage), not one about the recipient or the
// message.
func systemStatus(reply string) bool {
	code, rest, ok := strings.Cut(reply, " ")
	if !ok || len(code) != 3 || (code[0] != '4' && code[0] != '5') {
		return false
	}
	return len(rest) >= 4 && rest[0] == code[0] && rest[1:3] == ".3" && rest[3] == '.'
}
