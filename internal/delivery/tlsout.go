package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"

	"umbra/internal/config"
	"umbra/internal/header"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/smtp"
	"umbra/internal/tlspolicy"
)

// destTLS is the TLS policy state of one delivery to a destination
// through a send connector (tlsout.go): which policies the domain has,
// and what the message asks.
type destTLS struct {
	eng        *tlspolicy.Engine
	dom        string
	mx         bool // MX route: the domain's own policies apply (not a smart host)
	sts        *tlspolicy.STSPolicy
	stsErr     error // the MTA-STS TXT lookup failed: whether a policy exists is unknown
	mxSecure   bool
	requireTLS bool                     // REQUIRETLS (RFC 8689)
	noPolicy   bool                     // "TLS-Required: No" and not REQUIRETLS (RFC 8689 §5)
	tlsFailed  bool                     // a host failed on TLS, or its policy kept a REQUIRETLS message from it (requireTLSDefer)
	unlisted   map[string]bool          // MX hosts an MTA-STS testing policy does not list
	dropped    []string                 // MX hosts the MTA-STS policy kept the message from, each once, in the order met (filterHosts)
	decided    map[string]*hostDecision // per host (name:port, every address of it): hostOf
	// unknown: hosts whose DANE check could not be made (the TLSA lookup
	// failed), let through for a "TLS-Required: No" message (hostTLS):
	// at least opportunistic TLS, no session counted (counted once as
	// dnssec-invalid).
	unknown map[string]bool
}

// unknownHost marks host as one whose policy could not be known (hostTLS).
func (t *destTLS) unknownHost(name string) {
	if t.unknown == nil {
		t.unknown = map[string]bool{}
	}
	t.unknown[name] = true
}

// atLeastOpportunistic is the TLS policy of a session to host under no
// decision: the connector's, raised to opportunistic TLS for a host
// whose DANE check could not be made (a "TLS-Required: No" message, as a
// relaxed decision raises it: tlsOptions).
func (t *destTLS) atLeastOpportunistic(name string, policy smtp.TLSPolicy) smtp.TLSPolicy {
	if t != nil && t.unknown[name] && policy == smtp.TLSNone {
		return smtp.TLSOpportunistic
	}
	return policy
}

// hostDecision is what one delivery decided of one host, whatever its
// number of addresses: the engine's answer (hostTLS), shared by a pooled
// session's check and the fresh attempt, so the host's TLSA records are
// looked up, and a failure reported, once per message; and whether a
// failure before any session — not listed by an enforced MTA-STS policy
// (filterHosts), a failed policy fetch that kept a REQUIRETLS message
// from it (hostTLS) — was counted for TLS reporting: once for the host
// (RFC 8460 §4.3 counts sessions; the attempt would have made one).
type hostDecision struct {
	made    bool // dec and err hold the engine's answer
	dec     *tlspolicy.Decision
	err     error
	counted bool // a failure before any session was reported for the host
}

// hostOf is the record of h's host (its name and port: every address of
// it shares one), made empty at the first look.
func (t *destTLS) hostOf(h host) *hostDecision {
	key := fmt.Sprintf("%s:%d", h.name, h.port())
	hd := t.decided[key]
	if hd == nil {
		if t.decided == nil {
			t.decided = map[string]*hostDecision{}
		}
		hd = &hostDecision{}
		t.decided[key] = hd
	}
	return hd
}

// outboundTLS prepares the TLS policy of a send-connector group. Without
// an engine, or for a smart host, only the connector's setting applies.
func (d *Deliverer) outboundTLS(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) *destTLS {
	t := &destTLS{eng: st.cfg.TLSPolicy, dom: g.dom, requireTLS: m.RequireTLS}
	t.noPolicy = !m.RequireTLS && tlsRequiredNo(body)
	t.mx = len(g.conn.cfg.SmartHosts) == 0 && g.dom != ""
	if t.eng == nil || !t.mx {
		return t
	}
	defer queue.AwaitingPeer(ctx)() // DNS, and the MTA-STS policy's fetch: waits on peers
	t.mxSecure = t.eng.MXSecure(ctx, g.dom)
	t.sts, t.stsErr = t.eng.STS(ctx, g.dom)
	return t
}

// filterHosts drops the MX hosts an enforced MTA-STS policy does not
// list (RFC 8461 §4.1); under testing they stay and the mismatch is
// reported. With no host left the group is deferred.
// enforcesMX: the destination's MTA-STS policy keeps the hosts it does
// not list from being tried (filterHosts), so they do not count among
// the addresses an attempt looks up before it tries them (mxlookup.go).
func (t *destTLS) enforcesMX() bool {
	return t.eng != nil && t.sts.Binds(t.noPolicy, t.requireTLS)
}

func (d *Deliverer) filterHosts(t *destTLS, g *group, hosts []host) ([]host, []queue.Result) {
	if t.sts == nil || t.sts.Mode == tlspolicy.ModeNone || t.eng == nil {
		return hosts, nil
	}
	var kept []host
	for _, h := range hosts {
		if !t.sts.Admits(h.name, t.noPolicy, t.requireTLS) { // the one test route explain shows (tlspolicy Explain)
			if t.requireTLS {
				t.tlsFailed = true // kept from h by the TLS requirement (requireTLSDefer)
			}
			if !slices.Contains(t.dropped, h.name) { // once for the host, not per address nor per batch
				t.dropped = append(t.dropped, h.name)
			}
			if hd := t.hostOf(h); !hd.counted { // once for the host, not per address
				hd.counted = true
				if r := t.eng.Reporter(); r != nil {
					tlspolicy.RecordPolicy(r, t.dom, tlspolicy.PolicySTS, t.sts.Strings())
					r.Result(t.dom, tlspolicy.PolicySTS, h.name, "validation-failure")
				}
			}
			continue
		}
		if !t.sts.MatchMX(h.name) { // kept under testing; its session is reported as a validation failure
			if t.unlisted == nil {
				t.unlisted = map[string]bool{}
			}
			t.unlisted[h.name] = true
		}
		kept = append(kept, h)
	}
	if len(kept) == 0 { // the MX RRset or the policy may be mid-change: retried, REQUIRETLS too
		reply := "451 4.7.5 no MX host of " + t.dom + " matches its MTA-STS policy"
		if t.requireTLS {
			reply = "451 4.7.5 REQUIRETLS: " + reply[10:]
		}
		return nil, deferAll(g.rcpts, g.dom, reply)
	}
	return kept, nil
}

// hostTLS decides the policy for one host: DANE, then MTA-STS (through
// the engine), else the connector's. A TLSA lookup that failed in a
// signed zone defers the host; a REQUIRETLS message with no way to
// verify the host fails (550 5.7.10).
func (d *Deliverer) hostTLS(ctx context.Context, t *destTLS, sc *sendConnector, h host) (*tlspolicy.Decision, error) {
	var dec *tlspolicy.Decision
	if t.eng != nil && t.mx {
		hd := t.hostOf(h)
		if !hd.made {
			waited := queue.AwaitingPeer(ctx) // the host's TLSA lookup
			hd.dec, hd.err = t.eng.Host(ctx, t.dom, t.mxSecure, h.name, h.port(), t.sts)
			waited()
			if hd.err != nil && (ctx.Err() != nil || queue.PastExpiry(ctx)) {
				// The lookup was cut by this attempt's end (the message's
				// expiry, the stop), not failed by the domain's DNS: no
				// TLS report names it, no decision is kept (rr26).
				return nil, t.policyDefer(h, hd.err.Error())
			}
			hd.made = true
			if hd.err != nil {
				if r := t.eng.Reporter(); r != nil {
					r.Result(t.dom, tlspolicy.PolicyTLSA, h.name, tlspolicy.ResultType(nil, hd.err)) // dnssec-invalid, once for the host
				}
			}
		}
		if hd.err != nil && t.noPolicy {
			// RFC 8689 §5: the sender asked that the domain's policies
			// not stop the message — a DANE check that could not even be
			// made (the TLSA lookup failed) no more than one that failed.
			// The connector's setting, at least opportunistic TLS
			// (connectWith), as a relaxed decision gives; the failure was
			// counted for the host (dnssec-invalid), its session is not
			// counted again (report).
			t.unknownHost(h.name)
			return nil, nil
		}
		if hd.err != nil {
			return nil, t.policyDefer(h, hd.err.Error())
		}
		dec = hd.dec
	}
	if dec != nil && t.noPolicy {
		cp := *dec // the sender asked that policies not stop the message
		cp.Require, cp.Enforce = false, false
		dec = &cp
	}
	if dec != nil && t.requireTLS && dec.Source == tlspolicy.SourceMTASTS && dec.Verify != nil {
		cp := *dec // RFC 8689 §4.2.1: testing counts as enforce
		cp.Require, cp.Enforce = true, true
		dec = &cp
	}
	if t.requireTLS && !(dec.Verified() && dec.Enforce) && sc.cfg.TLS != config.TLSVerify {
		if f, ok := t.lastFetchFailure(); ok && t.sts == nil {
			// The domain publishes an MTA-STS policy umbra could not
			// fetch: it may verify once the fetch succeeds. The session
			// it blocked is counted (RFC 8460 §4.3), once for the host,
			// whatever number of addresses it has.
			if hd := t.hostOf(h); !hd.counted {
				hd.counted = true
				if r := t.eng.Reporter(); r != nil {
					r.Result(t.dom, tlspolicy.PolicySTS, h.name, f.Result)
				}
			}
			return nil, t.policyDefer(h, fmt.Sprintf("the MTA-STS policy of %s (id %s) could not be fetched: %s", t.dom, f.ID, f.Err))
		}
		if dec != nil && dec.Source == tlspolicy.SourceDANE {
			// The domain publishes secure TLSA records none of which is
			// usable: a DANE policy it can fix, not the absence of one.
			return nil, t.policyDefer(h, "none of its TLSA records is usable ("+dec.Detail+")")
		}
		if t.sts == nil && t.stsErr != nil {
			// DNS could not say whether the domain publishes an MTA-STS
			// policy: not "no policy", which would be permanent.
			return nil, t.policyDefer(h, t.stsErr.Error())
		}
		// Permanent by definition (RFC 8689 §4.2.1): the destination
		// publishes no way to authenticate its hosts (no DANE, no
		// MTA-STS) and the connector does not verify.
		return nil, fmt.Errorf("%w: 550 5.7.10 REQUIRETLS: no verified TLS to %s (no DANE or MTA-STS policy, connector %s is %s)",
			errPermanent, h, sc.cfg.Name, sc.cfg.TLS)
	}
	return dec, nil
}

// policyDefer is the one form of a host's deferral for its TLS policy
// before any session (a TLSA lookup that failed, a policy not known
// yet, unusable TLSA records): for a REQUIRETLS message it says
// "REQUIRETLS: no verified TLS to HOST yet", which the queue's expiry
// turns into 550 5.7.10 (queue/results.go), as every other REQUIRETLS
// deferral (rt18a F3).
func (t *destTLS) policyDefer(h host, why string) error {
	if t.requireTLS {
		t.tlsFailed = true // kept from h by TLS: a later host's error keeps the form (requireTLSDefer)
		return fmt.Errorf("451 4.7.5 REQUIRETLS: no verified TLS to %s yet: %s", h, why)
	}
	return fmt.Errorf("451 4.7.5 %s: %s", h, why)
}

// tlsOptions applies a decision to the connector's TLS setting. verr
// receives the decision's verification error of the handshake.
func tlsOptions(policy smtp.TLSPolicy, dec *tlspolicy.Decision, verr *error) (smtp.TLSPolicy, func(tls.ConnectionState) error) {
	if dec == nil {
		return policy, nil
	}
	connectorVerify := policy == smtp.TLSVerify // the connector's own check stays in force
	if dec.Require && !connectorVerify {
		policy = smtp.TLSRequired
	} else if policy == smtp.TLSNone {
		policy = smtp.TLSOpportunistic // testing: try TLS, report what happens
	}
	if dec.Verify == nil {
		return policy, nil
	}
	if connectorVerify {
		// The callback checks instead of the host name check: DANE's
		// match authenticates by itself (RFC 7672); MTA-STS's is the
		// same WebPKI check for the MX name, and stays mandatory here.
		policy = smtp.TLSRequired
	}
	return policy, func(cs tls.ConnectionState) error {
		err := dec.Verify(cs)
		*verr = err
		if err != nil && (dec.Enforce || connectorVerify) {
			return err
		}
		return nil
	}
}

// reportTLS counts one session's TLS outcome for TLS reporting.
func (t *destTLS) report(dec *tlspolicy.Decision, mx string, c *smtp.Client, failure error) {
	if t.eng == nil || !t.mx {
		return
	}
	r := t.eng.Reporter()
	if r == nil || dec == nil && t.unknown[mx] {
		return // the host's failed TLSA lookup was its count (hostTLS)
	}
	typ := tlspolicy.PolicyNotFound
	if dec != nil {
		typ = dec.PolicyType
		tlspolicy.RecordPolicy(r, t.dom, typ, dec.Policy) // the report's policy-string
	} else if f, ok := t.lastFetchFailure(); ok && t.sts == nil {
		// The domain publishes an MTA-STS policy whose fetch failed: the
		// session went without it, and counts as that failure (once
		// per session, RFC 8460 §4.3.2.3), not as a session with no policy.
		r.Result(t.dom, tlspolicy.PolicySTS, mx, f.Result)
		return
	}
	switch {
	case failure != nil:
		r.Result(t.dom, typ, mx, tlspolicy.ResultType(dec, failure))
	case t.unlisted[mx]:
		r.Result(t.dom, typ, mx, "validation-failure")
	case c != nil && c.TLS && dec != nil && dec.Mode == "dane-unusable":
		r.Result(t.dom, typ, mx, "tlsa-invalid") // TLS, but none of the TLSA records was usable (RFC 8460 §4.3.2.2)
	case c != nil && c.TLS:
		r.Result(t.dom, typ, mx, "")
	case dec != nil:
		r.Result(t.dom, typ, mx, "starttls-not-supported")
	}
}

// tlsRequiredNo reports whether the header section carries
// "TLS-Required: No" (RFC 8689 §5): the field's unfolded value (a folded
// field too, header.Values), "No" in any ASCII case; the first such
// field decides.
func tlsRequiredNo(body []byte) bool {
	vs := header.Values(body, "TLS-Required")
	return len(vs) > 0 && mailaddr.EqualFold(vs[0], "no")
}

// tlsFailure is the error a failed session is reported under: the
// policy's verification error, else the handshake's error, else the
// host's lack of STARTTLS (not offered, or refused).
func tlsFailure(verr, err error) error {
	switch {
	case verr != nil:
		return verr
	case errors.Is(err, smtp.ErrTLSHandshake):
		return err
	}
	return tlspolicy.NoSTARTTLS(err)
}

// lastFetchFailure is the destination's failed MTA-STS fetch, if any (an
// MX route with an engine only).
func (t *destTLS) lastFetchFailure() (tlspolicy.FetchFailure, bool) {
	if t.eng == nil || !t.mx {
		return tlspolicy.FetchFailure{}, false
	}
	return t.eng.LastFetchFailure(t.dom)
}

// requireTLSRefusal is the one rule for a verified hop's EHLO answer to
// a REQUIRETLS message (RFC 8689 §4.2.1), for every relay — an MX or
// smart host (remote.go) and a server of the organisation (org.go): a
// hop that does not offer REQUIRETLS gets a QUIT and the recipients
// fail 550 5.7.10 naming it. nil when the message may go on: it does not
// ask REQUIRETLS, the hop offers it, or it is a bounce (the null reverse
// path: a REQUIRETLS message's DSN is not stopped by a hop without it,
// §5). The caller has made the session verify its certificate.
func requireTLSRefusal(ctx context.Context, c *smtp.Client, hop string, m *queue.Message, rcpts []int) []queue.Result {
	if !m.RequireTLS || m.From == "" {
		return nil
	}
	if ok, _ := c.Extension("REQUIRETLS"); ok {
		return nil
	}
	quit(ctx, c) // bounded, the next hop's time
	return failAll(rcpts, hop, "550 5.7.10 REQUIRETLS: "+hop+" does not support REQUIRETLS")
}

// sessionNeed is what a session must have established to carry a
// message: TLS at all, and the check its certificate passed (the
// decision's source, "verify" for the connector's host name check, ""
// none). A session is opened under one message's need; a pooled one is
// reused only by a message whose need it meets (rt17d F1): a session a
// "TLS-Required: No" message opened in clear, or over TLS that did not
// verify, carries nothing an enforced policy protects.
type sessionNeed struct {
	tls   bool
	check string
}

// checkVerify names the connector's own host name check (tls: verify).
const checkVerify = "verify"

// needOf is the need of a message sent through a connector whose TLS
// setting is connectorTLS under the host decision dec (nil: only the
// connector's setting), as connectWith applies them (tlsOptions).
func needOf(connectorTLS string, dec *tlspolicy.Decision) sessionNeed {
	connectorVerify := connectorTLS == config.TLSVerify
	n := sessionNeed{tls: connectorVerify || connectorTLS == config.TLSRequired || dec != nil && dec.Require}
	switch {
	case dec != nil && dec.Verify != nil && (dec.Enforce || connectorVerify):
		n.check = dec.Source
	case connectorVerify:
		n.check = checkVerify
	}
	return n
}

// metBy reports whether c's opening established n.
func (n sessionNeed) metBy(c *smtp.Client) bool {
	return (!n.tls || c.TLS) && (n.check == "" || c.TLS && c.Assurance.Verified == n.check)
}

// assurance is what a session opened to h established: the check its
// certificate passed — the decision's callback when it ran without an
// error, else the connector's host name check (policy TLSVerify). Full:
// the opener applied m's destination decision unrelaxed (dt, not
// "TLS-Required: No") and the session passed every check it makes, a
// testing policy's too (listed MX, verified certificate), under a policy
// state that was known (policyKnown).
func assurance(h host, c *smtp.Client, policy smtp.TLSPolicy, verify func(tls.ConnectionState) error, dt *destTLS, dec *tlspolicy.Decision, verr error) smtp.Assurance {
	a := smtp.Assurance{Host: h.name, Addr: h.addr}
	switch {
	case !c.TLS:
	case verify != nil && verr == nil && dec != nil:
		a.Verified = dec.Source
	case verify == nil && policy == smtp.TLSVerify:
		a.Verified = checkVerify
	}
	a.Full = dt != nil && !dt.noPolicy && dt.policyKnown() && !dt.unlisted[h.name] && (dec == nil || dec.Verify == nil || a.Verified == dec.Source)
	return a
}

// policyKnown reports whether t knew the destination's MTA-STS state:
// not after a failed TXT lookup, nor with a policy whose fetch failed —
// a session opened then is checked again for the next message
// (Assurance.Full false), whose policy may be known by then.
func (t *destTLS) policyKnown() bool {
	if t.stsErr != nil {
		return false
	}
	_, failed := t.lastFetchFailure()
	return t.sts != nil || !failed
}

// pooledMeets reports whether the pooled session c, opened to a host of
// g's destination for another message, may carry m: never a REQUIRETLS
// message (its session is opened for it and checked for REQUIRETLS);
// under an enforced MTA-STS policy only a session to an MX it lists;
// and only one whose TLS meets what m's decision for that host demands
// (DANE, MTA-STS, the connector's tls setting). A session whose opener
// applied the full decision (Assurance.Full) meets every message to the
// destination but a REQUIRETLS one: m's decision is that same decision,
// or a relaxed one; only after a relaxed opener is m's own decision made
// here — its lookups then serve the fresh attempt (dt, returned;
// hostTLS keeps the host's decision), none made twice.
func (d *Deliverer) pooledMeets(ctx context.Context, st *state, m *queue.Message, body []byte, g *group, c *smtp.Client) (bool, *destTLS) {
	if m.RequireTLS {
		return false, nil
	}
	h := host{name: c.Assurance.Host, addr: c.Assurance.Addr}
	if h.name == "" {
		return false, nil
	}
	if c.Assurance.Full || tlsRequiredNo(body) {
		return true, nil
	}
	dt := d.outboundTLS(ctx, st, m, body, g)
	if dt.enforcesMX() && !dt.sts.Admits(h.name, dt.noPolicy, dt.requireTLS) {
		return false, dt
	}
	dec, err := d.hostTLS(ctx, dt, g.conn, h)
	if err != nil {
		return false, dt
	}
	return needOf(g.conn.cfg.TLS, dec).metBy(c), dt
}
