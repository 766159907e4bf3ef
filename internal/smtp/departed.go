package smtp

import (
	"context"
	"log/slog"
	"net/netip"
)

// A server whose topology no longer names a primary keeps what it holds
// of it (departed42, rt42-shadow F1): copies held for it, copies of it
// taken over, notes owed to it (finished elsewhere, taken done, handed).
// A reload mid-rollout may drop a server from this server's topology
// for a while (README: normal); the primary, back with its database,
// asks this server what became of its copies before its first
// delivery (XQUERYTAKENDONE) and fetches its discards. Turned away
// because the topology no longer lists it, it heard nothing and
// delivered again what this server had taken over and delivered.
//
// So a shadow session on the connector's trust alone (an externally
// secured connector, no credential naming a server) that states a name
// the topology does not know is bound, as bindServerID binds a
// topology server, to the address the held record of that server names
// (HeldServers: the queue's record of the primary, where its
// heartbeats go, kept while anything of it is held or owed here), and
// only when it presents the transport database id that record keeps
// (XSHADOW … DB=): the address is no proof alone — the departed server
// may have been decommissioned and its address given to a client, which
// on the connector's trust would otherwise discard its held copies.
// Such a session is a departed server's: it may speak the verbs of what
// is its own here — discard queries and pushes, XQUERYHELD, XQUERYKEPT,
// XQUERYDROPPED, XQUERYTAKENDONE — but hands no new copy and no message
// under a shadow id (XSHADOWCOPY=, XSHADOWBATCH=, XSHADOW= refused 550
// 5.7.1: the topology decides which servers this one keeps copies for,
// and it no longer names that one). A name no held record names, or
// an address other than the record's, is refused as before; never are
// the verbs opened to an address no held record names. A session
// turned away because the topology does not name the server it states
// is logged at WARN once a minute per stated name ("not in this
// server's topology"; the names past the log's bound share one entry,
// anotherDBLog) and counted (ShadowTopologyRefused).

// HeldServers answers for the servers this server holds something of
// (copies held for them or taken over, notes owed), by the record the
// queue keeps of each: known, name is such a server; ok, ip is the
// address its record names (where its heartbeats go); dbID, the
// transport database id the record keeps for it ("" for none), which a
// session at that address must present (XSHADOW … DB=) to be the
// server: a departed server's address may be another host's by now.
type HeldServers interface {
	HeldServerAt(name string, ip netip.Addr) (known, ok bool, dbID string)
	// IsHeldServerAddress: ip is the address some held record names.
	IsHeldServerAddress(ip netip.Addr) bool
}

// ShadowTopologyObserver is told of each shadow session refused because
// the server it states is not (or no longer) in this server's topology
// and nothing of it is held here. An Observer that also implements it
// gets the calls (umbra_shadow_refused_sessions_total{session="topology"}).
type ShadowTopologyObserver interface {
	ShadowTopologyRefused()
}

type heldServers struct{ h HeldServers }

// SetHeldServers gives the server the record of what it holds of other
// servers (nil: none), by which a departed server's shadow sessions are
// bound.
func (s *Server) SetHeldServers(h HeldServers) {
	if h == nil {
		s.held.Store(nil)
		return
	}
	s.held.Store(&heldServers{h})
}

// heldServerAt asks the record of held servers; false, false, "" without one.
func (s *Server) heldServerAt(name string, ip netip.Addr) (known, ok bool, dbID string) {
	h := s.held.Load()
	if h == nil {
		return false, false, ""
	}
	return h.h.HeldServerAt(name, ip)
}

// departedAddress: the session's trust is the connector's alone, its
// address is no transport server's of the topology in force, and a held
// record names it: a server the topology dropped whose copies or notes
// are here may be connecting (advertiseNow offers it XSHADOW; its
// XSHADOW is bound by the name it states, bindServerID).
func (s *session) departedAddress() bool {
	if !s.server || s.serverAccount || s.vc != nil && len(s.vc.certNames) > 0 || !s.trustInForce() {
		return false
	}
	h := s.srv.held.Load()
	if h == nil || s.srv.servers.Load() == nil {
		return false
	}
	return h.h.IsHeldServerAddress(s.ip)
}

// departedVerbRefusal refuses what a departed server's shadow session
// may not do (above): "" for any other session.
func (s *session) departedVerbRefusal(what string) string {
	if s == nil || !s.shadowDeparted {
		return ""
	}
	return "550 5.7.1 " + what + " refused: server " + s.shadowServer + " is not in this server's topology (only what is held of it here is answered)"
}

// topologyRefused logs and counts a shadow session turned away because
// the topology does not name the server it states and nothing of it is
// held here: WARN once a minute per name (the refusals between at
// DEBUG, counted on the next WARN).
func (s *session) topologyRefused(serverID string) {
	if o, ok := s.srv.obs.(ShadowTopologyObserver); ok {
		o.ShadowTopologyRefused()
	}
	warn, suppressed := s.srv.topoRefusals.refused(serverID)
	level := slog.LevelDebug
	args := []any{"server_id", serverID, "remote", s.ip.String(),
		"reason", "server id is not a server of the organisation", "why", "not in this server's topology, and nothing of it is held here",
		"code", 550, "enhanced_code", "5.7.1"}
	if warn {
		level = slog.LevelWarn
		if suppressed > 0 {
			args = append(args, "refused_since_last_warning", suppressed)
		}
	}
	s.log.Log(context.Background(), level, "shadow session refused", args...)
}
