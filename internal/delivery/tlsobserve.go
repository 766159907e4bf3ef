package delivery

import (
	"umbra/internal/config"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// OutboundObserver counts outbound sessions by TLS outcome and the
// sessions a required or verify TLS policy refused (metrics.Outbound).
// Destinations are bounded: a send connector's name ("redirect" for an
// operator's redirect, whatever connector's TLS and auth settings it
// borrows: sendConnector.destination), "org" for relays
// to the topology's servers, "mailbox" for its mailbox servers.
type OutboundObserver interface {
	Known(destination string)
	Session(destination, tls string)
	TLSFailure(destination, policy string)
}

// Destinations of sessions inside the organisation.
const (
	outboundOrg     = "org"
	outboundMailbox = "mailbox"
)

// SetOutbound sets the observer of outbound sessions, before the first
// delivery; it keeps it across reloads and exports the destinations of
// every configuration at zero.
func (d *Deliverer) SetOutbound(o OutboundObserver) {
	d.outbound = o
	d.knownOutbound(d.st.Load())
}

// OutboundForgetter is an OutboundObserver that drops a destination's
// series (metrics.Outbound): a reload that removes a send connector
// calls it, so that its counts are not exported until a restart.
type OutboundForgetter interface {
	Forget(destination string)
}

// outboundDestinations are the destinations of a configuration: its
// send connectors, redirects, and with a topology its servers and send
// connectors.
func outboundDestinations(st *state) map[string]bool {
	out := map[string]bool{"redirect": true}
	for name := range st.conns {
		out[name] = true
	}
	if st.cfg.Topology != nil {
		out[outboundOrg], out[outboundMailbox] = true, true
		for _, name := range st.cfg.Topology.ConnectorNames() {
			out[name] = true // topoConnector: the topology's own
		}
	}
	return out
}

// knownOutbound makes the observer export the destinations of a
// configuration at zero (outboundDestinations).
func (d *Deliverer) knownOutbound(st *state) {
	o := d.outbound
	if o == nil {
		return
	}
	for name := range outboundDestinations(st) {
		o.Known(name)
	}
}

// forgetOutbound drops the series of the destinations of prev that next
// no longer has (a reload removed a send connector), where the observer
// can.
func (d *Deliverer) forgetOutbound(prev, next *state) {
	f, ok := d.outbound.(OutboundForgetter)
	if !ok || prev == nil {
		return
	}
	now := outboundDestinations(next)
	for name := range outboundDestinations(prev) {
		if !now[name] {
			f.Forget(name)
		}
	}
}

// orgSession counts a session with a server of the topology: LMTP to a
// mailbox server (no STARTTLS), else a relay (opportunistic).
func (d *Deliverer) orgSession(kind string, c *smtp.Client) {
	if kind == routing.HopMailbox {
		d.observeSession(outboundMailbox, c, config.TLSNone)
		return
	}
	d.observeSession(outboundOrg, c, config.TLSOpportunistic)
}

// observeSession counts an opened session by its TLS outcome: the
// negotiated version, "none" where the policy never tries STARTTLS,
// "plain" where opportunistic TLS found none (or its handshake failed and
// the session went on without it).
// policy is the configured one (config.TLSNone, …), not the one a
// fallback used.
func (d *Deliverer) observeSession(destination string, c *smtp.Client, policy string) {
	o := d.outbound
	if o == nil {
		return
	}
	outcome := "plain"
	if v := c.TLSVersion(); v != "" {
		outcome = v
	} else if policy == config.TLSNone {
		outcome = "none"
	}
	o.Session(destination, outcome)
}

// observeTLSFailure counts a session a required or verify policy refused.
func (d *Deliverer) observeTLSFailure(destination string, policy string) {
	if d.outbound != nil && (policy == config.TLSRequired || policy == config.TLSVerify) {
		d.outbound.TLSFailure(destination, policy)
	}
}
