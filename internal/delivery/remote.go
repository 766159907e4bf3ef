package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
	"umbra/internal/tlspolicy"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// deliverRemote sends a group through its send connector: to a smart
// host, or to the domain's MX hosts in preference order.
func (d *Deliverer) deliverRemote(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) []queue.Result {
	parts := orgid.PartsRecord(m.OrgID, m.Internal, body) // the id (and origin) lines in front, the stored body not copied
	if leavesOrganisation(st, g) {
		b, _ := orgid.Strip(body)                           // no umbra header for outsiders to replay (SR-14); a copy only when the stored body has one
		parts = [][]byte{d.signOutboundTail(ctx, st, m, b)} // stream.go: two passes over a spooled body
	}
	if pc := d.takeIdle(g.key); pc != nil {
		if pc.c.Alive() && !m.RequireTLS { // no NOOP round trip; no RSET: go-smtp would send EHLO again after it
			if res, ok := d.reuse(ctx, st, g.key, pc, m, parts, g.rcpts, false); ok {
				return res
			}
		} else {
			pc.c.Close()
		}
	}

	hosts, unresolved, res := d.destinations(ctx, st, g)
	if res != nil {
		return res
	}
	dt := d.outboundTLS(ctx, st, m, body, g)
	if hosts, res = d.filterHosts(dt, g, hosts); res != nil {
		return res
	}
	// A host that is this server is not even connected to, nor an MX
	// host no better than it (self.go).
	hosts, self := dropSelf(st.cfg.OwnBindings, len(g.conn.cfg.SmartHosts) > 0, hosts)
	if len(hosts) == 0 {
		reply, permanent, loops := nothingLeft(g.dom, g.conn.cfg.Name, len(g.conn.cfg.SmartHosts) > 0, *self, unresolved)
		switch {
		case loops:
			d.log.Error("next hop is this server itself: not relaying (check the MX records or smart hosts of the destination)",
				"next_hop", self.String(), "destination", g.dom, "send_connector", g.conn.cfg.Name, "how", selfHow)
			if permanent {
				return failAll(g.rcpts, self.String(), reply)
			}
			return deferAll(g.rcpts, self.String(), reply)
		case permanent:
			return failAll(g.rcpts, g.dom, reply)
		}
		return deferAll(g.rcpts, g.key, reply)
	}
	hosts = orderHosts(d.health, hosts)
	lastErr, lastHost := "451 4.4.1 no host reachable", g.key
	refusal, refusalHost, failedTemp := "", "", false // a host that does not take the content (eightbit.go); a host that failed for now
	limit := newMXLimit(g.conn.cfg)
	for k, h := range hosts {
		if cut := limit.reached(); cut != "" {
			// The rest waits for the next attempt, which starts again
			// from the best host (mx_address_limit, mx_session_limit).
			if refusal != "" && !failedTemp {
				lastErr, lastHost = "451 4.4.1 not sent to the hosts tried: "+refusal, refusalHost
			}
			lastErr += " (" + cut + ": " + strconv.Itoa(len(hosts)-k) + " more addresses not tried in this attempt)"
			failedTemp = true
			break
		}
		limit.addresses++ // its TLSA lookup too may take a timeout
		dec, err := d.hostTLS(ctx, dt, g.conn, h)
		var c *smtp.Client
		if err == nil {
			c, err = d.connectWith(ctx, st, g.conn, h, dt, dec)
		}
		if or := (*openingReply)(nil); errors.As(err, &or) && or.permanent && !g.conn.cfg.SendXShadow {
			// The host refused the session for good (RFC 5321 §3.1: a
			// 554 greeting; a 5xx to EHLO): its own reply, as a content
			// refusal below; another host may still take the message.
			// A server of the organisation (a send_xshadow connector's
			// smart host) that refuses is its configuration's passing
			// state: deferred, as a relay inside is (org.go).
			d.log.Info("next hop host refused the session", "msg_id", m.ID.String(), "next_hop", h.String(), "reply", or.reply)
			refusal, refusalHost = or.reply, h.String()
			limit.sessions++
			continue
		}
		if err != nil {
			lastErr, lastHost = err.Error(), h.String()
			if errors.Is(err, errPermanent) {
				return failAll(g.rcpts, h.String(), strings.TrimPrefix(err.Error(), errPermanent.Error()+": "))
			}
			if errors.As(err, new(answered)) {
				limit.sessions++
			}
			if ctx.Err() != nil {
				// The stop ended the attempt: the host did not fail
				// (rt26 F7), and the queue records the stop, not this.
				d.log.Info("delivery cut by the stop, not the next hop's failure", "msg_id", m.ID.String(), "next_hop", h.String())
			} else {
				d.log.Info("next hop host failed", "msg_id", m.ID.String(), "next_hop", h.String(), "err", err)
			}
			failedTemp = true
			continue
		}
		limit.sessions++
		d.health.Responsive(h.name, h.addr)
		if m.RequireTLS && m.From != "" { // a REQUIRETLS bounce is not stopped by a hop without it (RFC 8689 §5)
			if ok, _ := c.Extension("REQUIRETLS"); !ok {
				quit := queue.AwaitingPeer(ctx) // QUIT's reply: the next hop's time
				c.Quit()
				quit()
				c.Close()
				return failAll(g.rcpts, h.String(), "550 5.7.10 REQUIRETLS: "+h.String()+" does not support REQUIRETLS")
			}
		}
		if g.conn.cfg.SendXShadow {
			d.openShadow(ctx, st, c, h.name)
			c.Via = g.conn.cfg.Name
			if res := d.selfRelay(c, h.String(), g.rcpts); res != nil {
				return res
			}
		}
		if reply, err := contentRefusal(ctx, c, h.String(), m, parts, g.rcpts); err == nil && reply != "" {
			// Decided per host (eightbit.go): another host of the
			// destination may offer 8BITMIME or SMTPUTF8. The session
			// stays for a message this host takes.
			d.log.Info("next hop host refused for the content", "msg_id", m.ID.String(), "next_hop", h.String(), "reply", reply)
			refusal, refusalHost = reply, h.String()
			limit.sessions-- // an EHLO, not a transaction: mx_session_limit counts the hosts the message could go to
			d.finishConn(g.key, c, nil)
			continue
		}
		res := d.transaction(ctx, st, c, h.String(), m, parts, g.rcpts, false)
		d.finishConn(g.key, c, res)
		return res
	}
	if refusal != "" && !failedTemp {
		// Every host that answered refused the session for good or lacks
		// what the message needs, and no other one could not be reached:
		// the message cannot go there. The last such host's own reply
		// is the recipients' (a DSN quotes it, naming the host).
		return failAll(g.rcpts, refusalHost, refusal)
	}
	if dt.requireTLS && dt.tlsFailed {
		// A TLS failure (STARTTLS refused, a reset, a certificate that
		// does not verify) may be a passing misconfiguration: retried on
		// the schedule; at expiry the DSN says 5.7.10 (queue, results.go).
		return deferAll(g.rcpts, lastHost, "451 4.7.5 REQUIRETLS: no host of "+g.key+" offered verified TLS: "+lastErr)
	}
	return deferAll(g.rcpts, lastHost, lastErr)
}

// mxLimit counts what one attempt spent of a send connector's
// mx_address_limit (addresses connected to, in preference order) and
// mx_session_limit (hosts among them that answered SMTP). Smart hosts are
// the operator's and not bounded; the domain's own addresses (no MX) are.
type mxLimit struct {
	maxAddresses, maxSessions int // 0: no bound
	addresses, sessions       int
}

func newMXLimit(sc config.SendConnector) mxLimit {
	if len(sc.SmartHosts) > 0 {
		return mxLimit{}
	}
	return mxLimit{maxAddresses: sc.MXAddressLimit, maxSessions: sc.MXSessionLimit}
}

// reached names the limit that stops the attempt before its next
// address, or "".
func (l *mxLimit) reached() string {
	switch {
	case l.maxAddresses > 0 && l.addresses >= l.maxAddresses:
		return "mx_address_limit " + strconv.Itoa(l.maxAddresses) + " reached"
	case l.maxSessions > 0 && l.sessions >= l.maxSessions:
		return "mx_session_limit " + strconv.Itoa(l.maxSessions) + " reached"
	}
	return ""
}

// answered marks a failed connection to a host that spoke SMTP: a
// greeting that refused, a TLS failure after EHLO, a refused login. It
// counts as a session (mx_session_limit); a host that never greeted
// (refused, unreachable, silent until the timeout) counts only as an
// address.
type answered struct{ error }

func (a answered) Unwrap() error { return a.error }

// host is one address to try, with the name it was found under.
type host struct {
	name string
	addr string // ip:port
	pref int    // its MX preference (0: a smart host, the domain's own address)
}

// port is the TCP port of h's address (TLSA records are at _PORT._tcp).
func (h host) port() int {
	_, p, _ := net.SplitHostPort(h.addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (h host) String() string {
	ip, port, _ := net.SplitHostPort(h.addr)
	return fmt.Sprintf("%s[%s]:%s", h.name, ip, port)
}

var errPermanent = errors.New("permanent")

// unresolvedHost is a mail host whose addresses could not be looked up,
// with its MX preference.
type unresolvedHost struct {
	resolver.HostLookup
	pref int
}

// destinations lists the addresses to try for a group, in order: smart
// hosts in random order (spreading load), or MX hosts by preference
// (random among equals), falling back to the domain's own address when it
// has no MX (RFC 5321 §5.1).
func (d *Deliverer) destinations(ctx context.Context, st *state, g *group) ([]host, []unresolvedHost, []queue.Result) {
	smart := len(g.conn.cfg.SmartHosts) > 0
	if strings.HasPrefix(g.dom, "[") {
		// An address literal (a sender's, for its DSN; RCPT refuses
		// it): umbra routes by domain — through a smart host too, which
		// would only be handed the question (rt26 F6) — and DNS is
		// never asked about a bracketed name.
		return nil, nil, failAll(g.rcpts, g.dom, "550 5.1.2 "+g.dom+" is an address literal, not a domain: umbra delivers to domains only")
	}
	names, prefs, implicit, err := nextHopNames(ctx, st.cfg.Resolver, g.conn.cfg.SmartHosts, g.dom)
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errNullMX):
		return nil, nil, failAll(g.rcpts, g.dom, "556 5.1.10 domain "+g.dom+" accepts no mail (null MX)")
	case err == nil:
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
	case ctx.Err() != nil:
		// Stopped, not failed: the lookup had no time to answer.
		return nil, nil, deferAll(g.rcpts, g.dom, stopped("the MX lookup for "+g.dom))
	default:
		return nil, nil, deferAll(g.rcpts, g.dom, "451 4.4.3 MX lookup for "+g.dom+" failed: "+err.Error())
	}
	hosts, unresolved := lookupHosts(ctx, st.cfg.Resolver, names, prefs, strconv.Itoa(g.conn.cfg.Port))
	var failed []resolver.HostLookup
	for _, u := range unresolved {
		failed = append(failed, u.HostLookup)
	}
	if len(hosts) == 0 && ctx.Err() != nil {
		return nil, nil, deferAll(g.rcpts, g.key, stopped("the address lookups for "+g.key))
	}
	if len(hosts) == 0 && smart {
		// A smart host is the operator's: its missing address is retried.
		msg := "451 4.4.4 no address for any host of " + g.key
		if len(failed) > 0 {
			msg += ": " + failed[len(failed)-1].Err.Error()
		}
		return nil, nil, deferAll(g.rcpts, g.key, msg)
	}
	if len(hosts) == 0 {
		// The same reply route explain shows (tlspolicy.Explain): a
		// denial for every host bounces, naming the hosts and lookups
		// (5.1.2 only for a domain that does not exist); anything
		// temporary defers.
		reply, permanent := resolver.NoAddress(g.dom, implicit, failed)
		if permanent {
			return nil, nil, failAll(g.rcpts, g.dom, reply)
		}
		return nil, nil, deferAll(g.rcpts, g.key, reply)
	}
	return hosts, unresolved, nil
}

// errNullMX: the domain publishes a null MX (RFC 7505), it takes no mail.
var errNullMX = errors.New("null MX")

// nextHopNames lists the names to look up for mail to dom: the smart
// hosts in random order (spreading load), or the MX hosts by preference
// (random among equals) with their preferences, or the domain itself
// when it has no MX (implicit; RFC 5321 §5.1; the error then is the
// MX lookup's not-found, which callers take as no MX). errNullMX: a null MX.
func nextHopNames(ctx context.Context, r Resolver, smartHosts []string, dom string) (names []string, prefs []int, implicit bool, err error) {
	if len(smartHosts) > 0 {
		names = append(names, smartHosts...)
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		return names, nil, false, nil
	}
	mxs, err := r.LookupMX(ctx, dom)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, nil, false, errNullMX
	case err == nil && len(mxs) > 0:
		sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
		for i := 0; i < len(mxs); {
			j := i
			for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
				j++
			}
			same := mxs[i:j]
			rand.Shuffle(len(same), func(a, b int) { same[a], same[b] = same[b], same[a] })
			i = j
		}
		for _, mx := range mxs {
			names = append(names, strings.TrimSuffix(mx.Host, "."))
			prefs = append(prefs, int(mx.Pref))
		}
		return names, prefs, false, nil
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound || err == nil:
		return []string{dom}, nil, true, err // no MX: the domain itself
	}
	return nil, nil, false, err
}

// lookupHosts looks up the addresses of names (a host, host:port or an
// IP address; port where none is given), each with its preference (0
// past the end of prefs); the names without an address are unresolved.
func lookupHosts(ctx context.Context, r Resolver, names []string, prefs []int, port string) (hosts []host, unresolved []unresolvedHost) {
	for i, n := range names {
		pref := 0
		if i < len(prefs) {
			pref = prefs[i]
		}
		name, p := n, port
		if h, pp, err := net.SplitHostPort(n); err == nil {
			name, p = h, pp
		}
		if ip := net.ParseIP(name); ip != nil {
			hosts = append(hosts, host{name: name, addr: net.JoinHostPort(name, p), pref: pref})
			continue
		}
		addrs, err := r.LookupHost(ctx, name)
		if err != nil {
			unresolved = append(unresolved, unresolvedHost{resolver.HostLookup{Host: name, Err: err}, pref})
			continue
		}
		for _, a := range addrs {
			hosts = append(hosts, host{name: name, addr: net.JoinHostPort(a, p), pref: pref})
		}
	}
	return hosts, unresolved
}

// stopped is the reply of a delivery the server's stop cut short during
// what: a 4.3.2 "shutting down", which does not count against the
// destination's window (queue's feedback), not a failed lookup.
func stopped(what string) string {
	return "451 4.3.2 delivery stopped (shutting down) during " + what
}

// authFailed is a login the next hop refused (err holds its reply, a
// *gosmtp.SMTPError when it answered): the server is up and speaking.
// The message is the delivery's reply.
type authFailed struct {
	msg string
	err error
	// peerDigest is the database digest the server advertised before the
	// login (XSHADOWDB): a primary that refuses this server's login still
	// tells it that its database changed (rt15 N1).
	peerDigest string
}

func (e *authFailed) Error() string { return e.msg }
func (e *authFailed) Unwrap() error { return e.err }

func (d *Deliverer) connect(ctx context.Context, st *state, sc *sendConnector, h host) (*smtp.Client, error) {
	return d.connectWith(ctx, st, sc, h, nil, nil)
}

// connectWith connects to h under the connector's TLS setting, or the
// destination's DANE or MTA-STS decision for it (tlsout.go).
func (d *Deliverer) connectWith(ctx context.Context, st *state, sc *sendConnector, h host, dt *destTLS, dec *tlspolicy.Decision) (*smtp.Client, error) {
	policy := map[string]smtp.TLSPolicy{config.TLSNone: smtp.TLSNone, config.TLSOpportunistic: smtp.TLSOpportunistic,
		config.TLSRequired: smtp.TLSRequired, config.TLSVerify: smtp.TLSVerify}[sc.cfg.TLS]
	var verr error
	policy, verify := tlsOptions(policy, dec, &verr)
	for attempt := 0; attempt < 2; attempt++ {
		connected := queue.AwaitingPeer(ctx) // connecting runs nothing on the message (queue/peerwait.go)
		nc, err := st.dial(ctx, sc, "tcp", h.addr)
		if err != nil {
			connected()
			return nil, fmt.Errorf("451 4.4.1 connect to %s: %v", h, err)
		}
		c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: h.name, TLS: policy,
			RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout,
			VerifyConnection: verify})
		connected()
		if errors.Is(err, smtp.ErrTLSUnavailable) && policy == smtp.TLSOpportunistic {
			if dt != nil {
				dt.report(dec, h.name, nil, tlsFailure(verr, err))
			}
			policy, verify = smtp.TLSNone, nil // the handshake failed: plaintext, as opportunistic TLS allows
			continue
		}
		if errors.Is(err, smtp.ErrTLSUnavailable) {
			d.observeTLSFailure(sc.cfg.Name, sc.cfg.TLS)
			if dt != nil {
				dt.tlsFailed = true
				dt.report(dec, h.name, nil, tlsFailure(verr, err))
				if dec != nil {
					return nil, answered{fmt.Errorf("451 4.7.5 %s: %s policy of %s: %s", h, dec.Source, dt.dom, tlspolicy.Describe(dec, h.name, verr, err))}
				}
			}
			return nil, answered{fmt.Errorf("451 4.7.5 %s: %s", h, tlspolicy.Describe(nil, h.name, verr, err))}
		}
		if err != nil {
			e := fmt.Errorf("451 4.4.2 %s from %s: %s", openingStage(err), h, smtp.Reply(err))
			if se := (*gosmtp.SMTPError)(nil); errors.As(err, &se) {
				// It greeted, with a refusal (at the greeting or EHLO).
				return nil, answered{&openingReply{msg: e.Error(), reply: smtp.Reply(err), permanent: smtp.Permanent(err)}}
			}
			return nil, e
		}
		c.SetHop(h.String())
		d.observeSession(sc.cfg.Name, c, sc.cfg.TLS)
		if dt != nil && attempt == 0 {
			dt.report(dec, h.name, c, verr)
		}
		if sc.cfg.Auth.Username != "" {
			authed := queue.AwaitingPeer(ctx) // the login's replies: the next hop's time, as connecting is
			err := c.Auth(sasl.NewPlainClient("", sc.cfg.Auth.Username, sc.password))
			authed()
			if err != nil {
				digest := c.PeerDatabaseDigest() // the EHLO after STARTTLS: the channel XSHADOW would have used
				c.Close()
				return nil, answered{&authFailed{msg: fmt.Sprintf("451 4.7.0 authentication to %s failed: %s", h, smtp.Reply(err)), err: err, peerDigest: digest}}
			}
		}
		return c, nil
	}
	return nil, answered{fmt.Errorf("451 4.7.5 %s: STARTTLS failed", h)}
}

// openingReply is a host's answer that refused the session at its
// greeting or at EHLO (the message is umbra's words for a deferral,
// naming the step and the host; reply is the host's own). A permanent
// one (5xx) is the host's refusal, as a 5xx at MAIL or RCPT is: the
// next host is tried, and where every host tried refused for good the
// recipients fail with the host's own reply (deliverRemote).
type openingReply struct {
	msg, reply string
	permanent  bool
}

func (e *openingReply) Error() string { return e.msg }

// openingStage names the step of a session's opening err happened at
// (smtp.Stage), "greeting" for an error before any reply was read whole.
func openingStage(err error) string {
	if s := smtp.Stage(err); s != "" {
		return s
	}
	return "greeting"
}
