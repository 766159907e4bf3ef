package smtp

import (
	"context"
	"log/slog"
	"net/netip"
)

// A server account's password, or a certificate, names a server; it does
// not make the host that presents it that server. A host started as a
// copy of a server together with its configuration (same server.name,
// same credentials) logs in as that server from another address, and
// its XSHADOW would be taken as that server's: its database id recorded
// as the server's new one (the copies the real server keeps judged lost
// and made again), the server's discard notifications handed to it.
// So, whatever the way of authenticating, where the topology lists the
// stated server's addresses (its address an IP address, or a host name
// resolved when the topology was loaded, or source_addresses) the
// connection must come from one of them (addressedServerID). A server
// whose addresses are not listed (a host name that did not resolve, no
// source_addresses) is not checked: its credential decides, as before.
// An externally secured connector binds the id to the address already
// (bindServerID, stricter: an unlisted server is refused there).
//
// Each refusal is counted (ShadowAddressObserver) and logged per stated
// server: WARN at the first, then DEBUG, WARN again once
// anotherDatabaseLogEvery has passed since the last WARN, with the
// refusals not WARNed since (the clone retries every heartbeat and
// every message).

// ShadowAddressObserver is told of each shadow session refused because
// the connection came from an address the topology does not give the
// stated server, by that server's name when it is a transport server of
// the topology, else "other" (a bounded label set). An Observer that
// also implements it gets the calls.
type ShadowAddressObserver interface {
	ShadowAddressRefused(server string)
}

// AddressedDirectory is a ServerDirectory that knows whether the
// topology lists a server's addresses (routing.Topology.ServerAddressed).
type AddressedDirectory interface {
	ServerAddressed(name string, ip netip.Addr) (listed, ok bool)
}

// addressedServerID refuses a shadow session stating the name of a
// server whose addresses the topology lists, from an address that is not
// one of them (above). "" when it may go on.
func (s *session) addressedServerID(serverID string) string {
	d := s.srv.servers.Load()
	if d == nil {
		return ""
	}
	ad, ok := d.d.(AddressedDirectory)
	if !ok {
		return ""
	}
	if listed, at := ad.ServerAddressed(serverID, s.ip); !listed || at {
		return ""
	}
	// Its credential named that server (or the connector vouches for
	// it): the address is the only cause (noteShadowSession).
	s.addrRefused = s.serverAccount || (s.vc != nil && len(s.vc.certNames) > 0)
	if o, ok := s.srv.obs.(ShadowAddressObserver); ok {
		o.ShadowAddressRefused(s.serverLabel(serverID))
	}
	warn, suppressed := s.srv.addrRefusals.refused(serverID)
	level := slog.LevelDebug
	args := []any{"shadow_server", serverID, "remote", s.ip.String(), "code", 550, "enhanced_code", "5.7.1"}
	if warn {
		level = slog.LevelWarn
		if suppressed > 0 {
			args = append(args, "refused_since_last_warning", suppressed)
		}
	}
	s.log.Log(context.Background(), level, "shadow session refused: the connection's address is not one of that server's addresses in the topology (a copy of that server with its configuration?)", args...)
	return "550 5.7.1 Server id " + serverID + " does not match the connection's address: " + s.ip.String() +
		" is not one of " + serverID + "'s addresses in the topology (its address, source_addresses)"
}
