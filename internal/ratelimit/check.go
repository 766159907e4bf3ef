package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"umbra/internal/mailaddr"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/smtp"
)

// Check is a receive connector's rate limits as an edge check: it
// counts connections at connect (per address and network), messages at
// MAIL and recipients at RCPT (per address, network, authenticated user
// and sender domain). Over a limit, a connection gets 421 4.7.0 and is
// closed, MAIL and RCPT get 450 4.7.1; a refused attempt is not counted.
type Check struct {
	connector string
	cfg       config.RateLimits
	exempt    []netip.Prefix
	counters  *Counters
}

// New returns the check of connector rc over counters, or nil when rc
// sets no limit.
func New(rc config.ReceiveConnector, counters *Counters) (*Check, error) {
	if !rc.RateLimits.Any() {
		return nil, nil
	}
	k := &Check{connector: rc.Name, cfg: rc.RateLimits, counters: counters}
	for _, e := range rc.RateLimits.Exempt {
		p, err := config.ParseRange(e) // validated at load; unmapped as the session's address is
		if err != nil {
			return nil, fmt.Errorf("rate_limits.exempt %q: %w", e, err)
		}
		k.exempt = append(k.exempt, p)
	}
	counters.Known(rc.Name)
	return k, nil
}

// Name implements smtp.Check.
func (k *Check) Name() string { return "rate_limits" }

// Replies.
var (
	replyConnections = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}}
	replyTooMany     = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}}
)

func reply(base *gosmtp.SMTPError, e *event) smtp.Verdict {
	r := *base
	who := map[string]string{ScopeAddress: "your address", ScopeNetwork: "your network", ScopeUser: "your account",
		ScopeSenderDomain: "your sender domain"}[e.scope]
	r.Message = fmt.Sprintf("Rate limit reached: too many %s from %s, try again later", e.kind, who)
	return smtp.Verdict{Reply: &r}
}

func (k *Check) exemptSession(c *smtp.ConnInfo) bool {
	if c.Server {
		return true
	}
	ip := c.IP.Unmap()
	for _, p := range k.exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// events lists the counts one event of kind takes in the scopes that
// limit it.
func (k *Check) events(c *smtp.ConnInfo, kind, senderDomain string) []event {
	var evs []event
	add := func(scope, value string, l config.RateLimit) {
		limit := map[string]int{KindConnections: l.Connections, KindMessages: l.Messages, KindRecipients: l.Recipients}[kind]
		if limit <= 0 || value == "" {
			return
		}
		evs = append(evs, event{scope: scope, kind: kind, limit: limit, length: l.Window.D(),
			key: k.connector + "\x00" + scope + "\x00" + kind + "\x00" + value})
	}
	if ip := c.IP.Unmap(); ip.IsValid() {
		add(ScopeAddress, ip.String(), k.cfg.Address)
		bits := k.cfg.IPv6Prefix
		if ip.Is4() {
			bits = k.cfg.IPv4Prefix
		}
		if p, err := ip.Prefix(bits); err == nil {
			add(ScopeNetwork, p.String(), k.cfg.Network)
		}
	}
	add(ScopeUser, userKey(c.User), k.cfg.User)
	add(ScopeSenderDomain, senderDomain, k.cfg.SenderDomain)
	return evs
}

func (k *Check) take(c *smtp.ConnInfo, kind, senderDomain string, base *gosmtp.SMTPError) smtp.Verdict {
	if k.exemptSession(c) {
		return smtp.Verdict{}
	}
	evs := k.events(c, kind, senderDomain)
	if len(evs) == 0 {
		return smtp.Verdict{}
	}
	if e := k.counters.take(k.connector, evs); e != nil {
		return reply(base, e)
	}
	return smtp.Verdict{}
}

// Connect implements smtp.ConnectCheck.
func (k *Check) Connect(_ context.Context, c *smtp.ConnInfo) smtp.Verdict {
	if c.ServerAddress {
		// A server of the organisation connects from here: counting
		// its connection before its AUTH would let anyone sharing the
		// address or network (a /24) lock it out with 421. Its MAIL and
		// RCPT still count unless it proves to be a server.
		return smtp.Verdict{}
	}
	return k.take(c, KindConnections, "", replyConnections)
}

// Mail implements smtp.MailCheck.
func (k *Check) Mail(_ context.Context, c *smtp.ConnInfo, from string, _ *gosmtp.MailOptions) smtp.Verdict {
	return k.take(c, KindMessages, domainOf(from), replyTooMany)
}

// Rcpt implements smtp.RcptCheck.
func (k *Check) Rcpt(_ context.Context, c *smtp.ConnInfo, from, _ string) smtp.Verdict {
	return k.take(c, KindRecipients, domainOf(from), replyTooMany)
}

// domainOf is the domain of a reverse path in one form whatever way it
// was written: without a trailing dot, keyed by mailaddr.DomainKey (ASCII
// case folded, IDN U-labels as their A-labels, RFC 5890), so
// "Bücher.example." and "xn--bcher-kva.example" are one counter, and a
// name IDNA 2008 refuses ("\u212Aiosk.test") only itself, never the
// ASCII domain it imitates. "" for the null sender, which no sender
// domain limit counts. A domain literal stays as written (lower-cased).
func domainOf(from string) string {
	i := strings.LastIndexByte(from, '@')
	if i < 0 {
		return ""
	}
	d := strings.TrimSuffix(from[i+1:], ".")
	if d == "" || strings.HasPrefix(d, "[") {
		return mailaddr.Fold(d)
	}
	return mailaddr.DomainKey(d)
}

// userKey is an authenticated user in the form the user scope counts:
// case folded, spaces trimmed and collapsed. The session's user is the
// account's canonical identity already (an LDAP account's stored name);
// folding here keeps variants one counter for any account source.
func userKey(user string) string {
	return mailaddr.Fold(strings.Join(strings.Fields(user), " "))
}
