package main

import (
	"net/netip"
	"strings"

	"umbra/internal/queue"
)

// heldServers answers package smtp for the servers this server holds
// something of (smtp departed.go): by the queue's record of each primary
// (queue heldservers.go), which outlives its server's place in the
// topology while copies or notes of it are here.
type heldServers struct{ q *queue.Manager }

func (h heldServers) HeldServerAt(name string, ip netip.Addr) (known, ok bool, dbID string) {
	addr, dbID, held := h.q.HeldServer(name)
	if !held {
		return false, false, ""
	}
	return true, heldAddrIs(addr, ip), dbID
}

func (h heldServers) IsHeldServerAddress(ip netip.Addr) bool {
	for _, a := range h.q.HeldServerAddresses() {
		if heldAddrIs(a, ip) {
			return true
		}
	}
	return false
}

// heldAddrIs reports whether ip is the host of a held record's address
// addr ("host:port" with an IP literal; a host name is not resolved
// here: it matches nothing; a record through a send connector, "… via
// NAME", names no server's own address). It lives here, not in the
// queue, which parses no network address (imports_test.go).
func heldAddrIs(addr string, ip netip.Addr) bool {
	if addr == "" || strings.Contains(addr, " ") {
		return false
	}
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = addr[:i]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap() == ip.Unmap()
}
