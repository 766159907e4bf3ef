package main

import (
	"net/netip"

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
	return true, queue.HeldAddrIs(addr, ip), dbID
}

func (h heldServers) IsHeldServerAddress(ip netip.Addr) bool {
	for _, a := range h.q.HeldServerAddresses() {
		if queue.HeldAddrIs(a, ip) {
			return true
		}
	}
	return false
}
