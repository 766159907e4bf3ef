package msgauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/header"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// Check is the message authentication edge check of one receive
// connector: a smtp.DataCheck.
type Check struct {
	cfg config.MessageAuthentication
	dns resolver.Resolver
	log *slog.Logger
	met *Metrics
	// sample says whether a message falls in a DMARC pct= share.
	sample func(pct int) bool
	// own reports the organisation's own domains (SetOwnDomains; nil:
	// none), which a From: display name may not show.
	own func(domain string) bool
}

// SetOwnDomains sets own, which reports whether a domain (ASCII, lower
// case, no final dot) is one of the organisation's own or accepted
// domains: a From: display name or comment that shows an address of one
// of them, or of a subdomain, is refused whatever its top-level label
// ("ceo @ corp.lan"), where a shown domain whose top label is no
// top-level domain otherwise names none (header.MailboxesOwn, rt24b F4).
// Call it before the check is used.
func (c *Check) SetOwnDomains(own func(domain string) bool) { c.own = own }

// New returns the check for a connector's settings. met may be nil.
func New(cfg config.MessageAuthentication, dns resolver.Resolver, log *slog.Logger, met *Metrics) *Check {
	// Names that cannot exist are not asked (dnsname.go).
	return &Check{cfg: cfg, dns: nameGuard{dns}, log: log, met: met,
		sample: func(pct int) bool { return rand.IntN(100) < pct }}
}

// Name implements smtp.Check.
func (c *Check) Name() string { return "msgauth" }

// outcome is what the results call for, in increasing strength.
type outcome int

const (
	outPass outcome = iota
	outQuarantine
	outTempfail
	outReject
)

// Data implements smtp.DataCheck.
func (c *Check) Data(ctx context.Context, info *smtp.ConnInfo, t *smtp.Transaction) smtp.Verdict {
	if info.Server {
		// A transport server of the organisation: an edge already
		// checked the message, and its header names umbra rightly.
		return smtp.Verdict{}
	}
	fields, body := splitHeader(t.Content)
	kept := c.withoutForged(fields)
	if info.User != "" {
		// Authenticated submission: the sender is the organisation's
		// own user, nothing to authenticate; but a result claiming to
		// be umbra's is still not the user's to write.
		t.Content = rebuild(nil, fields, kept, t.Content)
		return smtp.Verdict{}
	}
	session := ctx // the check context: ended when the client leaves or umbra stops
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	r := c.evaluate(ctx, session, info, t, fields, body)
	c.met.observe(r)
	if c.log.Enabled(ctx, slog.LevelDebug) { // dkimSummary and the arguments allocate: only with debug on
		c.log.Debug("message authentication", "connector", info.Connector, "spf", r.spf.value, "helo_spf", r.helo.value,
			"dkim", r.dkimSummary(), "dmarc", r.dmarc.value, "from_domain", r.dmarc.domain, "arc", r.arc.value)
	}
	out, reply, why := c.decide(r)
	if out == outTempfail && cutOff(ctx) {
		// The lookups did not fail: the time allowed for the checks
		// ran out (or the session ended) — say so, not "DNS failure".
		reply = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
			Message: "message authentication did not finish in time (" + cutOffReason(ctx) + "); try again later"}
	}
	switch out {
	case outReject, outTempfail:
		return smtp.Verdict{Reply: reply}
	}
	own := formatAuthResults(c.cfg.AuthservID, r.results())
	t.Content = rebuild(own, fields, kept, t.Content)
	t.AuthResults = own
	if out == outQuarantine {
		return smtp.Verdict{Quarantine: why}
	}
	return smtp.Verdict{}
}

// StreamsBody: the check reads a spooled message's body through
// Transaction.Rest (stream.go) and edits only its header section.
func (c *Check) StreamsBody() bool { return true }

// rest is the opener of the message after t.Content, nil when Content
// is the whole message.
func rest(t *smtp.Transaction) restOpener {
	if t.Rest == nil {
		return nil
	}
	return restOpener(t.Rest)
}

// withoutForged drops the Authentication-Results fields that claim
// umbra's authserv-id (RFC 8601 §5): only umbra writes those.
func (c *Check) withoutForged(fields []field) []field {
	kept := make([]field, 0, len(fields))
	for _, f := range fields {
		if f.is("Authentication-Results") && header.SameAuthservID(authservID(f.value()), c.cfg.AuthservID) {
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// rebuild is the message with top prepended and only the header fields
// kept (fields are all of them, as splitHeader returned them); content
// is returned unchanged when there is nothing to change.
func rebuild(top []byte, fields, kept []field, content []byte) []byte {
	if top == nil && len(kept) == len(fields) {
		return content
	}
	n := 0
	for _, f := range fields {
		n += len(f.raw)
	}
	out := make([]byte, 0, len(top)+len(content))
	out = append(out, top...)
	out = append(out, joinFields(kept)...)
	return append(out, content[n:]...)
}

// results are one message's evaluations.
type results struct {
	spf, helo spfResult
	spfRun    bool
	heloRun   bool
	dkim      []dkimResult
	dkimRun   bool
	dmarc     dmarcResult
	dmarcRun  bool
	arc       arcResult
	arcRun    bool
	// overriddenBy is the trusted ARC sealer whose chain lifts a DMARC
	// failure ("" if none).
	overriddenBy string
	// cut: the methods (by metric name) whose result came once the
	// session had ended (the client gone, umbra stopping): their
	// temperrors are that cut, counted "cancelled" (Metrics.observe);
	// a method that ended before keeps its temperror — DNS failing
	// (TestMessageAuthenticationCutCountsOnlyTheMethodsItCut).
	cut map[string]bool
	// crashed: the methods (by metric name) one of whose lookups the
	// resolver answered with its recovered panic (panicWatch): their
	// temperrors are umbra's defect, counted "panicked", not DNS failing.
	crashed map[string]bool
}

func (r *results) dkimSummary() string {
	if len(r.dkim) == 0 {
		return "none"
	}
	best := r.dkim[0].value
	for _, d := range r.dkim {
		if d.value == "pass" {
			best = "pass"
		}
	}
	return best
}

func (c *Check) evaluate(ctx, session context.Context, info *smtp.ConnInfo, t *smtp.Transaction, fields []field, body []byte) *results {
	r := &results{cut: map[string]bool{}, crashed: map[string]bool{}}
	dns := &panicWatch{Resolver: c.dns}
	// ended notes whether the session had ended by the time method's
	// result came (the session's end, not the check's own time limit),
	// and whether one of its lookups panicked in the resolver.
	ended := func(method string) {
		r.cut[method] = errors.Is(session.Err(), context.Canceled)
		r.crashed[method] = dns.took()
	}
	m := c.cfg
	dmarcOn := m.DMARC != config.MsgAuthOff
	helo := info.Helo
	if m.SPF != config.MsgAuthOff || dmarcOn {
		r.spfRun = true
		sender := t.From
		if sender == "" {
			// RFC 7208 §2.4: the null sender is checked as
			// postmaster@ the HELO name.
			sender = "postmaster@" + helo
		}
		r.spf = checkSPF(ctx, dns, info.IP, helo, sender)
		ended("spf")
	}
	if m.HeloSPF != config.MsgAuthOff {
		r.heloRun = true
		r.helo = checkSPF(ctx, dns, info.IP, helo, "postmaster@"+helo)
		ended("helo_spf")
	}
	if m.DKIM != config.MsgAuthOff || dmarcOn {
		r.dkimRun = true
		r.dkim = verifyDKIMRest(ctx, dns.LookupTXT, fields, t.Content, rest(t), m.MaxSignatures)
		ended("dkim")
	}
	if dmarcOn {
		r.dmarcRun = true
		r.dmarc = evaluateDMARC(ctx, dns, fields, r.spf, r.dkim, c.sample, c.own)
		ended("dmarc")
	}
	if m.ARC != config.MsgAuthOff {
		r.arcRun = true
		r.arc = verifyARCRest(ctx, dns.LookupTXT, fields, body, rest(t))
		ended("arc")
	}
	if r.dmarcRun && r.dmarc.value == "fail" && r.arcRun && r.arc.value == "pass" && r.arc.latestDMARC == "pass" &&
		sameDomain(r.arc.latestFrom, r.dmarc.domain) {
		// The sealer's pass must be about this message's author domain:
		// a pass for another From: says nothing of this one.
		for _, d := range m.TrustedARCSealers {
			if a, ok := asciiDomain(d); ok && sameDomain(d, r.arc.domain) {
				// The configured sealer, as DNS holds it: the seal's
				// d= is text of the message (a U-label, capitals).
				r.overriddenBy = a
				break
			}
		}
	}
	return r
}

// decide maps the results and the connector's actions to an outcome:
// a refusal wins over a temporary failure, which wins over quarantine.
func (c *Check) decide(r *results) (outcome, *gosmtp.SMTPError, string) {
	best, reply, why := outPass, (*gosmtp.SMTPError)(nil), ""
	take := func(o outcome, r *gosmtp.SMTPError, reason string) {
		if o > best {
			best, reply, why = o, r, reason
		}
	}
	act := func(action, value string, temp bool, rej *gosmtp.SMTPError, tmp *gosmtp.SMTPError, reason string) {
		if action != config.MsgAuthQuarantine && action != config.MsgAuthReject {
			return
		}
		switch {
		case temp:
			take(outTempfail, tmp, reason)
		case value == "fail" && action == config.MsgAuthReject:
			take(outReject, rej, reason)
		case value == "fail":
			take(outQuarantine, nil, reason)
		}
	}
	m := c.cfg
	tempReply := func(enh gosmtp.EnhancedCode, what string) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: enh, Message: what + " could not be evaluated (DNS failure); try again later"}
	}
	if r.spfRun && m.SPF != config.MsgAuthOff {
		act(m.SPF, r.spf.value, r.spf.value == "temperror",
			&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 23}, Message: "SPF validation failed for " + r.spf.domain},
			tempReply(gosmtp.EnhancedCode{4, 7, 24}, "SPF"), "SPF fail for "+r.spf.domain)
	}
	if r.heloRun {
		act(m.HeloSPF, r.helo.value, r.helo.value == "temperror",
			&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 23}, Message: "SPF validation failed for the HELO name " + r.helo.domain},
			tempReply(gosmtp.EnhancedCode{4, 7, 24}, "SPF"), "HELO SPF fail for "+r.helo.domain)
	}
	if r.dkimRun && m.DKIM != config.MsgAuthOff && len(r.dkim) > 0 {
		v, temp := r.dkimSummary(), false
		if v != "pass" {
			for _, d := range r.dkim {
				temp = temp || d.value == "temperror"
			}
			v = "fail"
		}
		act(m.DKIM, v, temp && v != "pass",
			&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 20}, Message: "no valid DKIM signature"},
			tempReply(gosmtp.EnhancedCode{4, 7, 5}, "DKIM"), "no valid DKIM signature")
	}
	if r.arcRun {
		act(m.ARC, r.arc.value, r.arc.value == "temperror",
			&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 29}, Message: "ARC validation failed"},
			tempReply(gosmtp.EnhancedCode{4, 7, 29}, "ARC"), "ARC validation failed")
	}
	if r.dmarcRun {
		d := r.dmarc
		action := ""
		switch {
		case m.DMARC == config.MsgAuthPolicy && d.policy == dmarc.PolicyReject:
			action = config.MsgAuthReject
		case (m.DMARC == config.MsgAuthPolicy || m.DMARC == config.MsgAuthQuarantine) &&
			(d.policy == dmarc.PolicyReject || d.policy == dmarc.PolicyQuarantine):
			action = config.MsgAuthQuarantine
		}
		if d.value == "temperror" && d.published == "" && (m.DMARC == config.MsgAuthPolicy || m.DMARC == config.MsgAuthQuarantine) {
			// The policy itself is unknown: it may be reject.
			action = config.MsgAuthReject
		}
		if r.overriddenBy != "" {
			// RFC 7489 §10.5 local policy: a trusted forwarder saw
			// DMARC pass before it changed the message.
			action = ""
		}
		value := d.value
		if value == "permerror" && d.policy != "" {
			value = "fail" // no single author domain
		}
		text := fmt.Sprintf("message refused: DMARC policy of %s is reject and the message failed it", d.domain)
		if d.domain == "" {
			text = "message refused: DMARC needs one author domain in From: (" + commentText(d.reason) + ")"
		}
		act(action, value, value == "temperror",
			&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: text},
			tempReply(gosmtp.EnhancedCode{4, 7, 0}, "DMARC"), "DMARC "+string(d.policy)+" for "+orNone(d.domain))
	}
	return best, reply, why
}

func orNone(s string) string {
	if s == "" {
		return "(no author domain)"
	}
	return s
}

// results lists the results for the header, in a fixed order.
func (r *results) results() []result {
	var out []result
	if r.spfRun {
		out = append(out, result{method: "spf", value: r.spf.value, comment: r.spf.reason,
			props: [][2]string{{"smtp.mailfrom", r.spf.domain}}})
	}
	if r.heloRun {
		out = append(out, result{method: "spf", value: r.helo.value, comment: r.helo.reason,
			props: [][2]string{{"smtp.helo", r.helo.domain}}})
	}
	if r.dkimRun {
		if len(r.dkim) == 0 {
			out = append(out, result{method: "dkim", value: "none"})
		}
		for _, d := range r.dkim {
			out = append(out, result{method: "dkim", value: d.value, comment: d.reason,
				props: [][2]string{{"header.d", propDomain(d.domain)}, {"header.i", propIdentity(d.identity)}, {"header.s", d.selector}, {"header.b", d.b}}})
		}
	}
	if r.dmarcRun {
		note := ""
		if r.dmarc.published != "" {
			note = "p=" + string(r.dmarc.published)
		}
		if r.overriddenBy != "" {
			// No "=": inside the dmarc=fail comment "arc=pass" would
			// read as a result to a parser searching the field.
			note += " override: ARC pass sealed by " + r.overriddenBy + ", which recorded a DMARC pass"
		}
		out = append(out, result{method: "dmarc", value: r.dmarc.value, note: note, comment: r.dmarc.reason,
			props: [][2]string{{"header.from", propDomain(r.dmarc.domain)}}})
	}
	if r.arcRun {
		note := ""
		switch {
		case r.arc.failed > 0: // the instance the reason is about
			note = fmt.Sprintf("i=%d", r.arc.failed)
		case r.arc.reason == "" && r.arc.instance > 0:
			note = fmt.Sprintf("i=%d", r.arc.instance)
		}
		out = append(out, result{method: "arc", value: r.arc.value, note: note, comment: r.arc.reason,
			props: [][2]string{{"header.d", propDomain(r.arc.domain)}}})
	}
	return out
}

// propDomain is a domain property (header.d, header.from) as the
// header writes it: a name with a byte above ASCII (a U-label the
// message wrote) as its A-label, since the field is ASCII and pvalue
// would drop those bytes and name another domain; any other as written.
func propDomain(d string) string {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			if a, ok := asciiDomain(d); ok {
				return a
			}
			return d
		}
	}
	return d
}

// propIdentity is a DKIM identity (header.i, local-part@domain or
// @domain) as the header writes it: its domain as propDomain writes one
// (a U-label as its A-label, as header.d), the local part as written.
func propIdentity(i string) string {
	at := strings.LastIndexByte(i, '@')
	if at < 0 {
		return i
	}
	return i[:at+1] + propDomain(i[at+1:])
}

// sameDomain compares two domain names (A-labels, case, final dot).
func sameDomain(a, b string) bool {
	x, ok1 := asciiDomain(a)
	y, ok2 := asciiDomain(b)
	return ok1 && ok2 && x == y
}
