package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// Verify asks the next hop of rcpt whether it would accept it: the
// recipient callout of recipient validation (SMTP-6). It routes rcpt as
// a message to it would be routed (send connector with its TLS policy
// and authentication, or the organisation route), and runs EHLO, MAIL
// FROM:<> (with SMTPUTF8 for an address that needs it), RCPT TO, RSET, QUIT on the first host that answers. A 2xx to
// RCPT is Known, a 5xx Unknown; a 4xx (a *recipients.RcptDeferred), a
// refused MAIL, or no host answering is CannotDecide with the reason. Every step is bounded by
// ctx and the connect and command timeouts; no connection is pooled.
func (d *Deliverer) Verify(ctx context.Context, rcpt string) (v recipients.Verdict, reason string, err error) {
	defer func() { // panics.go: a callout that panicked cannot decide
		if r := recover(); r != nil {
			d.recovered(PanicVerify, r)
			v, reason, err = recipients.CannotDecide, "internal error", fmt.Errorf("callout: internal error (recovered panic): %v", r)
		}
	}()
	st := d.st.Load()
	domain := mailaddr.AddrKey(rcpt[strings.LastIndexByte(rcpt, '@')+1:])
	typ := st.cfg.Routing.Accepted(domain)
	if st.cfg.Topology != nil { // the route delivery takes (plan.go)
		r := st.cfg.Topology.RouteContext(ctx, st.cfg.LocalServer, rcpt, 0, typ)
		switch {
		case r.Tempfail != "":
			return recipients.CannotDecide, "", errors.New(r.Tempfail)
		case len(r.NextHops) > 0 && r.NextHops[0].Kind == routing.HopMailbox && len(r.NextHops[0].Servers) == 0:
			return recipients.CannotDecide, "", errors.New("the domain is delivered here: no next hop to ask")
		case len(r.Expand) > 0: // a group this hub expands: the topology knows it
			return recipients.Known, "250 2.1.5 group expanded here", nil
		case r.NDR != "":
			return recipients.Unknown, r.NDR, nil
		case len(r.NextHops) == 0:
			return recipients.CannotDecide, "", errors.New(unreachable(r, domain))
		case r.NextHops[0].Kind == routing.HopConnector:
			return d.verifyConnector(ctx, st, st.topoConnector(r.NextHops[0].Connector), domain, rcpt)
		}
		return d.verifyOrg(ctx, st, r.NextHops, rcpt)
	}
	if typ == routing.Authoritative {
		return recipients.CannotDecide, "", errors.New("the domain is delivered here: no next hop to ask")
	}
	dec, err := st.cfg.Routing.Route(domain)
	if err != nil {
		return recipients.CannotDecide, "", err
	}
	sc := st.conns[dec.Connector]
	if sc == nil {
		return recipients.CannotDecide, "", fmt.Errorf("send connector %s is not configured", dec.Connector)
	}
	return d.verifyConnector(ctx, st, sc, domain, rcpt)
}

func (d *Deliverer) verifyConnector(ctx context.Context, st *state, sc *sendConnector, domain, rcpt string) (recipients.Verdict, string, error) {
	g := &group{key: "verify:" + sc.cfg.Name, conn: sc, dom: domain, rcpts: []int{0}}
	src, res := d.destinations(ctx, st, g)
	if res == nil {
		src.fill(ctx, nil)
		res = d.noAddress(ctx, g, src)
	}
	if res != nil {
		return recipients.CannotDecide, res[0].Reply, errors.New(res[0].Reply)
	}
	lastErr := errors.New("no host answered")
	for src.more() { // addresses looked up as they are come to (mxlookup.go)
		src.fill(ctx, nil)
		hosts := src.take()
		if len(hosts) == 0 {
			break
		}
		for _, h := range hosts {
			c, err := d.connect(ctx, st, sc, h)
			if err != nil {
				lastErr = err
				continue
			}
			return probe(ctx, c, rcpt)
		}
	}
	return recipients.CannotDecide, "", lastErr
}

func (d *Deliverer) verifyOrg(ctx context.Context, st *state, hops []routing.NextHop, rcpt string) (recipients.Verdict, string, error) {
	lastErr := errors.New("no server of the route answered")
	for _, h := range hops {
		names, addrs := d.bal.order(h)
		for k, addr := range addrs {
			nc, err := st.dial(ctx, nil, "tcp", addr)
			if err != nil {
				lastErr = fmt.Errorf("connect to %s: %w", names[k], err)
				continue
			}
			lmtp := h.Kind == routing.HopMailbox
			policy := smtp.TLSOpportunistic
			if lmtp {
				policy = smtp.TLSNone
			}
			c, err := smtp.NewClient(ctx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, ServerName: names[k], TLS: policy,
				RootCAs: st.cfg.TLSConfig, CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout, LMTP: lmtp})
			if err != nil {
				lastErr = fmt.Errorf("%s from %s: %s", openingStage(err), names[k], smtp.Reply(err))
				continue
			}
			return probe(ctx, c, rcpt)
		}
	}
	return recipients.CannotDecide, "", lastErr
}

// probe runs MAIL FROM:<>, RCPT TO:<rcpt>, RSET and QUIT on c, and
// closes it. An address that needs SMTPUTF8 is asked as a message to it
// is sent (transaction.go, eightbit.go): MAIL says SMTPUTF8 when the
// next hop offers it, and a hop that does not offer it is not asked at
// all but answered with the refusal delivery would get there, in its
// words (queue.ReplyRcptNeedsSMTPUTF8) — never the hop's refusal of a MAIL
// without SMTPUTF8, which says nothing about the recipient (rt24b F1).
func probe(ctx context.Context, c *smtp.Client, rcpt string) (recipients.Verdict, string, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	var opts *gosmtp.MailOptions
	if strings.ContainsFunc(rcpt, func(r rune) bool { return r >= 0x80 }) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			quit(ctx, c)
			return recipients.Unknown, queue.ReplyRcptNeedsSMTPUTF8, recipients.ErrNextHopNoSMTPUTF8
		}
		opts = &gosmtp.MailOptions{UTF8: true}
	}
	if err := c.Mail("", opts); err != nil {
		if !isReply(err) {
			return recipients.CannotDecide, "", noAnswer("MAIL FROM:<>", err)
		}
		return recipients.CannotDecide, smtp.Reply(err), fmt.Errorf("MAIL FROM:<> refused: %s", smtp.Reply(err))
	}
	reply, err := c.RcptReply(rcpt, nil) // the hop's own 2yz: 251 and 252 are known too, and recorded so
	if err == nil || isReply(err) {
		// In step: RSET and QUIT end the check (a RSET that fails out
		// of step leaves the QUIT unsent: QuitBounded). A RCPT whose
		// reply never came gets neither: the deferred Close ends it.
		c.Reset()
		quit(ctx, c)
	}
	switch {
	case err == nil:
		return recipients.Known, reply, nil
	case outOfStep(err):
		// 503, 500 or 502 to RCPT after an accepted MAIL: the hop is out
		// of step (transaction.go), it said nothing of the address.
		return recipients.CannotDecide, smtp.Reply(err), fmt.Errorf("RCPT TO answered out of step: %s", smtp.Reply(err))
	case smtp.Permanent(err):
		return recipients.Unknown, smtp.Reply(err), nil
	case !isReply(err):
		return recipients.CannotDecide, "", noAnswer("RCPT TO", err)
	}
	// A 4xx about this address (a full mailbox for now): the hop's
	// code is passed on (recipients.RcptDeferred).
	return recipients.CannotDecide, smtp.Reply(err), &recipients.RcptDeferred{Reply: smtp.Reply(err)}
}

// isReply reports whether err is the next hop's SMTP reply (not an I/O
// error, a timeout or a closed connection).
func isReply(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se)
}

// noAnswer is the error of a probe step the next hop did not answer:
// the connection's failure. A probe cut off by ctx (which closes the
// connection) is worded by the caller, which knows whose bound ran out
// (recipients.Callout: its timeout, or its caller's).
func noAnswer(step string, err error) error {
	return fmt.Errorf("%s not answered: %w", step, err)
}

// RecipientChecker is the recipient validator (recipients.Validator).
type RecipientChecker interface {
	Check(ctx context.Context, address string) (recipients.Verdict, error)
}

type rcptHolder struct{ rc RecipientChecker }

// SetRecipients sets (or, on reload, replaces) the recipient validator
// asked before every Maildir delivery: an address it knows to be unknown
// fails with 550 5.1.1 instead of getting a mailbox of its own, whatever
// path the message came by (pickup, mail queued before validation was
// configured) (SMTP-6).
func (d *Deliverer) SetRecipients(rc RecipientChecker) { d.rcpts.Store(&rcptHolder{rc}) }

// unknownLocal reports whether the validator knows addr does not exist.
// Postmaster always exists (RFC 5321 §4.5.1); an address the validator
// cannot decide now is delivered, as it was accepted. The check may ask
// the directory (LDAP) or a callout: a wait on a peer, as a delivery's
// lookups are (queue/peerwait.go).
func (d *Deliverer) unknownLocal(ctx context.Context, addr string) bool {
	h := d.rcpts.Load()
	if h == nil || h.rc == nil || mailaddr.IsPostmaster(addr[:strings.LastIndexByte(addr, '@')]) {
		return false
	}
	waited := queue.AwaitingPeer(ctx)
	v, _ := h.rc.Check(ctx, addr)
	waited()
	return v == recipients.Unknown
}
