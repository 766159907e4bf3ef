package main

import (
	"strings"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/topology"
)

// ownDomainConnector is a send connector of a configuration without a
// topology that routing picks for some of its internal_relay accepted
// domains: on an edge, the connector to its hubs.
type ownDomainConnector struct {
	index   int      // in cfg.SendConnectors
	domains []string // the internal_relay domains routed through it, as configured
}

// ownDomainConnectors are cfg's send connectors that carry mail for its
// internal_relay domains (the organisation's domains whose mailboxes are
// on other servers), as the daemon's routing table picks them. An
// authoritative domain is delivered here, through no send connector; an
// external_relay one is another organisation's. None with a topology:
// routing then chooses among the topology's servers and connectors.
func ownDomainConnectors(cfg *config.Config, ct *config.Topology) []ownDomainConnector {
	if ct != nil {
		return nil
	}
	table := topology.RoutingTable(cfg)
	var out []ownDomainConnector
	at := map[string]int{}
	for _, d := range cfg.AcceptedDomains {
		if d.Type != config.DomainInternalRelay {
			continue
		}
		name := d.Domain
		if strings.HasPrefix(name, "*.") {
			name = "host" + name[1:] // a name the pattern accepts
		}
		dec, err := table.Route(name)
		if err != nil {
			continue
		}
		for i, sc := range cfg.SendConnectors {
			if sc.Name != dec.Connector {
				continue
			}
			k, ok := at[sc.Name]
			if !ok {
				k = len(out)
				at[sc.Name] = k
				out = append(out, ownDomainConnector{index: i})
			}
			out[k].domains = append(out[k].domains, d.Domain)
		}
	}
	return out
}

// holdsMailboxes: cfg is a server other than an edge with an
// authoritative domain — a hub holding the organisation's mailboxes,
// whose internal_relay domains are mail it sends on to another system
// (configs/hub.yaml's partner.example.net), leaving the organisation:
// neither its signing nor the missing organisation id is warned of
// there (reread rdmine45).
func holdsMailboxes(cfg *config.Config) bool {
	if cfg.Server.Role == "edge" {
		return false
	}
	for _, d := range cfg.AcceptedDomains {
		if d.Type == config.DomainAuthoritative {
			return true
		}
	}
	return false
}

// signingToOwnServers warns, at each such connector's name, when DKIM
// signing or ARC sealing is on without a topology (rt42-edge F2):
// nothing else then says where the organisation ends, so a send
// connector — the edge's connector to its hubs among them — counts as
// leaving it (delivery's leavesOrganisation; a send_xshadow connector
// excepted), and the mail it hands to the organisation's own servers is
// signed and sealed as if it left.
func signingToOwnServers(cfg *config.Config, ct *config.Topology) []string {
	var what []string
	if len(cfg.DKIM.Keys) > 0 {
		what = append(what, "DKIM-signed (mail that originated inside)")
	}
	if cfg.DKIM.ARC.Enabled() {
		what = append(what, "ARC-sealed (mail this server authenticated)")
	}
	if len(what) == 0 || holdsMailboxes(cfg) {
		return nil // a hub's partner is signed as leaving: rightly (orgIDNotCarried)
	}
	var out []string
	for _, oc := range ownDomainConnectors(cfg, ct) {
		sc := cfg.SendConnectors[oc.index]
		if sc.SendXShadow {
			continue
		}
		out = append(out, warnAt(cfg, []any{"send_connectors", oc.index, "name"},
			"send connector %q carries the organisation's own domain %s, and without a topology a send connector counts as leaving the organisation: "+
				"the mail it hands on is %s as mail leaving it is (give the servers a topology to have it stay inside)",
			sc.Name, strings.Join(oc.domains, ", "), strings.Join(what, " and ")))
	}
	return out
}

// orgIDNotCarried warns, at each such connector's name, when it has no
// send_xshadow (rt45 front F1): without a topology it counts as leaving
// the organisation, so the mail it hands to the organisation's own
// servers carries no organisation id, and the next hop gives it a new
// one. A message this server hands on again after a crash (killed
// between the next hop's 250 and the relay's commit: at least once, as
// every relay) is then a new message there, and reaches the mailbox
// twice — the hubs' duplicate record and the Maildir file name key on
// the id (3 of 3 runs of an edge set up as configs/edge.yaml was, 6–11
// duplicates in 2,000 messages; none with send_xshadow).
//
// Not on a hub that holds mailboxes itself (an authoritative domain):
// its internal_relay domains are mail it sends on to another system —
// configs/hub.yaml's partner.example.net —, which leaves the
// organisation and rightly carries no id (SR-14); send_xshadow there
// would hand a partner the id (reread rdmine45).
func orgIDNotCarried(cfg *config.Config, ct *config.Topology) []string {
	if holdsMailboxes(cfg) {
		return nil
	}
	var out []string
	for _, oc := range ownDomainConnectors(cfg, ct) {
		sc := cfg.SendConnectors[oc.index]
		if sc.SendXShadow || len(sc.SmartHosts) == 0 {
			continue // by MX: the domain's own servers, not this organisation's umbra
		}
		out = append(out, warnAt(cfg, []any{"send_connectors", oc.index, "name"},
			"send connector %q carries the organisation's own domain %s without send_xshadow, and without a topology a send connector counts as leaving the organisation: "+
				"the mail it hands on carries no organisation id, so a message handed on again after a crash here (killed between the next hop's 250 and its commit) "+
				"is a new message there and can reach a mailbox twice (set send_xshadow: true when its smart hosts are umbra servers of the organisation, or give the servers a topology)",
			sc.Name, strings.Join(oc.domains, ", ")))
	}
	return out
}

// requireTLSDSNsUndeliverable warns when a receive connector offers
// REQUIRETLS (it has a certificate) and the connector carrying the
// organisation's own domains does not verify TLS (rt42-edge F4): the DSN
// of a REQUIRETLS message that failed is itself sent with REQUIRETLS and
// needs verified TLS (RFC 8689 §5), and through a smart host only the
// connector's own tls: verify gives it — so one to a sender of those
// domains could not be delivered through it — the bounce is lost, logged only.
// A warning: such failures are rare, and the connector carries all
// other mail.
func requireTLSDSNsUndeliverable(cfg *config.Config, ct *config.Topology) []string {
	offered := ""
	for _, rc := range cfg.ReceiveConnectors {
		if rc.TLS.CertFile != "" {
			offered = rc.Name
			break
		}
	}
	if offered == "" {
		return nil
	}
	var out []string
	for _, oc := range ownDomainConnectors(cfg, ct) {
		sc := cfg.SendConnectors[oc.index]
		if sc.TLS == config.TLSVerify || len(sc.SmartHosts) == 0 {
			continue // by MX the domain's DANE or MTA-STS may verify
		}
		path := []any{"send_connectors", oc.index, "tls"}
		if cfg.WrittenValue(path...) == "" {
			path[2] = "name"
		}
		out = append(out, warnAt(cfg, path,
			"send connector %q carries the organisation's own domain %s with tls: %s, not verify, while receive connector %q offers REQUIRETLS: "+
				"the DSN of a REQUIRETLS message that failed needs verified TLS, and one to a sender of %s through this connector could not be delivered (the bounce is lost)",
			sc.Name, strings.Join(oc.domains, ", "), sc.TLS, offered, strings.Join(oc.domains, ", ")))
	}
	return out
}

// shadowLoginNotServerID warns of a send_xshadow connector that logs in
// with an account other than server.name (reread rdmine45: the shipped
// configs/edge.yaml and hub.yaml did): its shadow sessions state
// server.name (XSHADOW NAME), and a server account's name is its server
// id, so the next hop refuses each, 550 5.7.1 Server id does not match
// the authenticated account, and no copy is kept here (SR-1).
func shadowLoginNotServerID(cfg *config.Config) []string {
	var out []string
	for i, sc := range cfg.SendConnectors {
		u := sc.Auth.Username
		if !sc.SendXShadow || u == "" || mailaddr.NameKey(u) == mailaddr.NameKey(cfg.Server.Name) {
			continue
		}
		out = append(out, warnAt(cfg, []any{"send_connectors", i, "auth", "username"},
			"send connector %q has send_xshadow and logs in as %q, while its shadow sessions name this server %s: "+
				"a server account's name is its server id, so a next hop where %q is a server account refuses each (550 5.7.1 Server id does not match the authenticated account) and keeps no copy here "+
				"(name the account %s, %s:HASH:server in the next hop's credentials file)",
			sc.Name, u, cfg.Server.Name, u, cfg.Server.Name, cfg.Server.Name))
	}
	return out
}
