package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// Recipients a check adds at the end of data (a milter's add recipient)
// get what a RCPT gets: the relay rights of the session, recipient
// validation and the connector's max_recipients. An addition refused
// for good (relay denied, unknown, invalid, over the limit) is dropped
// and logged; one that cannot be validated now tempfails the whole
// message (451), as dropping it could lose mail the check meant to
// deliver. A check never gives a recipient more than the client could
// have asked for itself.

// relayAllowed is RCPT's relay decision: a recipient in an accepted
// domain needs the submit right, any other the relay right. The
// postmaster alias is accepted from anyone where it stays inside the
// organisation (an authoritative or internal_relay domain): a postmaster
// elsewhere would make <postmaster> a relay to the outside for anyone,
// so it needs the relay right like any outside address.
func (s *session) relayAllowed(a Address, postmaster bool) bool {
	return s.domainAllowed(a.Domain, postmaster)
}

// domainAllowed is relayAllowed for a recipient at domain.
func (s *session) domainAllowed(domain string, postmaster bool) bool {
	typ := s.srv.routing.Load().Accepted(domain)
	inside := typ == routing.Authoritative || typ == routing.InternalRelay
	return typ != routing.NotAccepted && s.has(config.RightSubmit) || s.has(config.RightRelay) || postmaster && inside
}

// admitAdded checks one recipient a check added, by RCPT's rules: the
// path as RCPT reads it (RcptPath: source route, quotes, postmaster),
// then the same address syntax, rights and validation.
func (s *session) admitAdded(addr string) (string, error) {
	path, err := RcptPath(addr)
	if err != nil || path == postmasterPath && s.srv.postmaster == "" {
		// (a bare <postmaster> with none configured: RCPT refuses it
		// as a path without a domain)
		return "", replyBadRcpt
	}
	path, postmaster := s.postmasterAlias(path)
	a, err := parsePathAddress(path)
	if err != nil {
		return "", RcptRefusal(err)
	}
	if r := UTF8Refusal(a, s.opts.UTF8); r != nil {
		return "", r
	}
	if a.Literal() {
		// RCPT's rule for an address literal: refused, but for
		// postmaster at the address the client connected to.
		if !s.ownPostmasterLiteral(a) {
			return "", replyAddressLiteral
		}
		if a, err = parsePathAddress(s.srv.postmaster); err != nil {
			return "", replyBadRcpt
		}
		postmaster = true
	}
	if r := DomainRefusal(a); r != nil {
		return "", r
	}
	if !s.relayAllowed(a, postmaster) {
		if s.srv.routing.Load().Accepted(a.Domain) != routing.NotAccepted {
			return "", replyNoSubmit // an accepted domain's: no right to submit, no relay refused (rt32b F2)
		}
		return "", replyRelayDenied
	}
	if err := s.validateRcpt(a); err != nil {
		return "", err
	}
	return a.String(), nil
}

// checkedRcpts maps the recipient list the checks left to queue
// recipients: one that was there keeps its DSN parameters, a new one
// gets none and must pass admitAdded and fit in max_recipients.
// Recipients are compared as RCPT compares them (rcptKey: a final dot,
// the form of an internationalised domain, and the local part's ASCII
// case for an authoritative domain only), so one recipient is never
// queued twice and two mailboxes of a relayed domain stay two.
func (s *session) checkedRcpts(id queue.ID, addrs []string) ([]queue.Recipient, error) {
	// An added recipient gets what a RCPT gets now: rights a reload took
	// away since the client's last RCPT (relay, submit) are gone for it
	// too, and so is an authentication a reload revoked (rt31b F2: the
	// account removed from the credentials file while the body came; data
	// dropped one revoked before, this one is revoked while the checks
	// ran), as its next RCPT would find it; the server standing as RCPT
	// judges it too (lowerServer).
	s.dropRevokedAuth()
	s.refreshRights()
	s.lowerServer()
	old := make(map[string]queue.Recipient, len(s.rcpt))
	for _, r := range s.rcpt {
		old[s.rcptKey(r.Addr)] = r
	}
	kept := 0
	for _, a := range addrs {
		if _, ok := old[s.rcptKey(a)]; ok {
			kept++
		}
	}
	max := s.maxRecipients() // the transaction's, as RCPT held it (reloadtxn.go)
	out := make([]queue.Recipient, 0, len(addrs))
	seen := make(map[string]bool, len(addrs))
	added, overLimit := 0, 0
	for _, a := range addrs {
		k := s.rcptKey(a)
		if seen[k] {
			continue
		}
		seen[k] = true
		if r, ok := old[k]; ok {
			out = append(out, r)
			continue
		}
		if max > 0 && kept+added >= max {
			overLimit++
			continue
		}
		norm, err := s.admitAdded(a)
		if err != nil {
			var se *gosmtp.SMTPError
			if errors.As(err, &se) && se.Code/100 == 4 {
				// A refusal of the message: through the refusal log,
				// with its codes (front47 F1: a WARN line per message).
				s.srv.refusals.log(s.log, "message rejected", "added_recipient_deferred", se, s.ip, "msg_id", id.String(), "rcpt", a)
				return nil, se
			}
			reason := "refused"
			if errors.As(err, &se) {
				reason = se.Message
			}
			s.srv.refusals.log(s.log, "recipient added by a check dropped", reason, nil, s.ip, "msg_id", id.String(), "rcpt", a)
			continue
		}
		lk := s.rcptKey(norm)
		if lk != k && seen[lk] {
			continue
		}
		seen[lk] = true
		out = append(out, queue.Recipient{Addr: norm})
		added++
	}
	if overLimit > 0 {
		s.srv.refusals.log(s.log, "recipients added by a check dropped", "max_recipients reached", nil, s.ip,
			"msg_id", id.String(), "dropped", overLimit, "max_recipients", max)
	}
	return out, nil
}
