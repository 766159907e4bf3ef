package smtp

import (
	"fmt"
	"slices"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// What becomes of the recipients of an open transaction when a reload
// takes the right one of them was accepted under (rt32b F1): the account
// that relayed removed, the relaying connector's ranges narrowed away
// from the session's address, the open connector removed so that none
// takes it. Each RCPT is judged by the rights in force when it comes
// (refreshRights, standing), and the transaction is judged again, whole,
// at DATA or its first BDAT chunk, before any of its body is taken
// (rightsLostBeforeBody), and once its body has ended (data) for a
// reload while it came: every recipient it holds must still have the
// right a RCPT of it would need now (relayAllowed). Where one has lost
// it, nothing is queued and the reply — in place of the 354 or the
// chunk's 250, or at the end of data — is 451 4.7.1 naming it and what
// took the right (rcptRightsLost), the transaction ended. Not a 5xx:
// SMTP has no per-recipient reply after RCPT, and a permanent refusal
// would bounce the recipients that kept their right too; not the other recipients taken and the lost
// ones dropped: the client would hold a 250 for a recipient nobody
// delivers to. A 4xx makes the client send the message again, and its
// next transaction (or connection) gets, recipient by recipient, what a
// new session gets: the lost ones refused at their RCPT (550 5.7.1
// Relay access denied, or MAIL's refusal: rcptRefusal), the others
// taken. A shadow copy's recipients are its primary's, as sent: not
// judged here (its shadow session is, at its next verb).

// rcptRightsLost is the refusal of the transaction whose recipients
// include one the session has no right to now (relayAllowed: submit for
// an accepted domain, relay for any other, the postmaster alias inside
// the organisation), nil when every one keeps its right.
//
// why is what ended the session's authentication in this judgement
// (revocation, dropAuthOffAddress), or earlier in the session and not
// told yet, "" for none: the reply then says so,
// not that a reload took a right where the account directory did, nor
// a right where the login ended.
func (s *session) rcptRightsLost(why string) *gosmtp.SMTPError {
	var lost []string
	domainGone, rightGone := "", false
	table := s.srv.routing.Load()
	underLogin := false // a lost one was accepted before the login ended
	for i, r := range s.rcpt {
		domain := r.Addr[strings.LastIndexByte(r.Addr, '@')+1:]
		postmaster := s.srv.postmaster != "" && asciiEqualFold(r.Addr, s.srv.postmaster)
		if !s.domainAllowed(domain, postmaster) {
			lost = append(lost, r.Addr)
			// The login's end took it only where the login's rights
			// in force would hold it (not a right a later reload
			// took from every client).
			underLogin = underLogin || i < s.loginRcpts && s.loginWouldHold(domain, postmaster)
			// What took it: its domain, an accepted one at its RCPT that
			// the accepted domains in force no longer have (while the
			// session may still submit), or a right of the connectors.
			if s.rcptLocal[r.Addr] && table.Accepted(domain) == routing.NotAccepted && s.has(config.RightSubmit) {
				if domainGone == "" {
					domainGone = domain
				}
			} else {
				rightGone = true
			}
		}
	}
	if len(lost) == 0 {
		return nil
	}
	if why != "" && !underLogin {
		// The login ended in this judgement, but a standing login would
		// not have kept any lost recipient either (loginWouldHold): what
		// took them is named, not the login's end — still owed to the
		// next MAIL or RCPT refused (tellLoginLost: revokeTold stays).
		why = ""
	}
	if why == "" && underLogin && s.authRevoked {
		// The login ended after the RCPT of a recipient lost now: that
		// is what took its right, whether the end was told since (a
		// later MAIL or RCPT refused 530: tellLoginLost) or not (a
		// command the rights left took) — not "a reload of this
		// server's receive connectors" (frontrt35 F4).
		why = s.revokedWhy
	}
	msg := "Recipient <" + lost[0] + ">"
	if len(lost) > 1 {
		msg += fmt.Sprintf(" and %d more", len(lost)-1)
	}
	switch why {
	case revokedByDirectory:
		// No reload: the account directory revoked the account.
		msg += " no longer permitted: the account directory revoked the account this session authenticated as; nothing was queued, send the message again"
	case "":
		switch {
		case domainGone != "" && !rightGone:
			msg += " no longer permitted: a reload took " + domainGone + " from this server's accepted domains, and this session has no right to relay; nothing was queued, send the message again"
		case domainGone != "":
			msg += " no longer permitted: a reload took the right they were accepted under (a receive connector's right, or " + domainGone + " from the accepted domains); nothing was queued, send the message again"
		default:
			msg += " no longer permitted: a reload of this server's receive connectors took the right it was accepted under; nothing was queued, send the message again"
		}
	default:
		msg += " no longer permitted: the authentication it was accepted under ended (" + why + "); nothing was queued, send the message again"
	}
	reply := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: msg}
	if why != "" {
		s.revokeTold = true // this refusal told the login's end (tellLoginLost)
	}
	s.srv.refusals.log(s.log, "message rejected", "recipient_right_lost", reply, s.ip, "rcpt", lost[0], "lost", len(lost), "authenticated", s.user != "")
	return reply
}

// rightsLostBeforeBody judges the open transaction at DATA and at its
// first BDAT chunk, before any of its body is taken, as data judges it
// once the body has ended: a reload (or the account directory) that
// took, since a RCPT, the right that recipient was accepted under
// refuses the transaction there — 451 4.7.1 saying which recipient and
// what took the right (rcptRightsLost), in place of the 354 or of the
// chunk's 250 — so that the client does not send a whole body only to
// have it refused after; the verb layer ends the transaction then. A
// reload while the body comes is judged at its end (data). A shadow
// copy's recipients are its primary's: not judged here. Nil while every
// recipient keeps its right.
func (s *session) rightsLostBeforeBody() *gosmtp.SMTPError {
	if s.pendingCopyDB != "" || s.pendingBatch != 0 || len(s.rcpt) == 0 {
		return nil
	}
	return s.rcptRightsLost(s.judgeBody())
}

// judgeBody drops what a reload (or the directory) took from the session
// since its last command — an authentication revoked, or one the
// connector now at its address would not hold, and the servers' rights
// — and takes the rights in force (refreshRights), before its
// transaction is judged (rcptRightsLost): what ended its authentication
// here, "" for nothing.
func (s *session) judgeBody() string {
	why := s.dropEndedAuth()
	s.lowerServer()
	s.refreshRights()
	return why
}

// dropEndedAuth drops an authentication a reload (or the directory)
// ended — revoked, or one the connector now at the session's address
// would not hold — and is what ended it, "" for nothing.
func (s *session) dropEndedAuth() string {
	why := ""
	if s.dropRevokedAuth() {
		why = s.revokedWhy
	}
	if s.dropAuthOffAddress() {
		why = s.revokedWhy
	}
	return why
}

// rcptRefusal is the refusal of a recipient at domain the session has
// no right to (relayAllowed) and the reason logged: a recipient of an
// accepted domain, refused because the session has no right to submit
// — a reload left it none (rt32b F2) —, gets the reply its MAIL gets
// now (mailRefusal), which is what it lacks, not a relay; one outside
// the accepted domains 550 5.7.1 Relay access denied, the relay it asked
// for being what it has no right to — but where what it lacks is a
// requirement this connection cannot meet (TLS or AUTH where it cannot
// start TLS: the 421 "connect again" of mailRefusal), that 421 for any
// recipient, never a 5xx only a new connection could cure.
func (s *session) rcptRefusal(domain string) (reply *gosmtp.SMTPError, reason string) {
	accepted := s.srv.routing.Load().Accepted(domain) != routing.NotAccepted
	if s.has(config.RightSubmit) || s.has(config.RightRelay) || !accepted && !s.connectAgainOnly() {
		return replyRelayDenied, "relay_denied"
	}
	if r := s.mailRefusal(); r != nil {
		return r, refusalReason(r)
	}
	return replyRelayDenied, "relay_denied"
}

// connectAgainOnly reports whether the requirement the connector
// answering the session has (mailRefusal's) is one this connection
// cannot meet: tls.required, or auth.required with AUTH only over TLS,
// on a connection that cannot start TLS.
func (s *session) connectAgainOnly() bool {
	cur := s.movedTo()
	if cur == nil {
		cur = s.inForceOrOwn()
	}
	noTLS := !s.tlsActive() && s.vc != nil && s.vc.tlsCfg == nil
	return noTLS && cur.cfg.TLS.Required || s.user == "" && cur.cfg.Auth.Required && s.cannotAuthenticate()
}

// refusalReason is the reason logged for a refusal of mailRefusal: what
// the reply tells the client the session lacks — TLS (530 5.7.0 Must
// issue a STARTTLS command first, or the 421 of a connection that
// cannot STARTTLS), an authentication (530 5.7.0 Authentication
// required) or the right to submit (530 5.7.1) —, never the right to
// submit for a requirement the session has not met yet.
func refusalReason(r *gosmtp.SMTPError) string {
	switch r {
	case replyTLSRequired, replyTLSRequiredConnectAgain:
		return "tls_required"
	case replyAuthRequired, replyAuthRequiredConnectAgain:
		return "auth_required"
	}
	return "not_permitted_to_submit"
}

// mailRefusal is the reply a MAIL of the session would get now for want
// of a right (openMail's): where the connector that takes its address
// requires TLS or AUTH the session has not met, that requirement's
// reply (530 5.7.0, or the 421 of a connection that cannot STARTTLS,
// which then closes as after MAIL), else 530 5.7.1 Not permitted to
// submit; nil while the session may submit or relay.
func (s *session) mailRefusal() *gosmtp.SMTPError {
	if s.has(config.RightSubmit) || s.has(config.RightRelay) {
		return nil
	}
	cur := s.movedTo()
	if cur == nil {
		cur = s.inForceOrOwn()
	}
	switch {
	case cur.cfg.TLS.Required && !s.tlsActive() && s.vc != nil && s.vc.tlsCfg == nil:
		s.hangUpAfter() // the reply is the session's last
		return replyTLSRequiredConnectAgain
	case cur.cfg.TLS.Required && !s.tlsActive():
		return replyTLSRequired
	case cur.cfg.Auth.Required && s.user == "" && s.cannotAuthenticate():
		s.hangUpAfter()
		return replyAuthRequiredConnectAgain
	case cur.cfg.Auth.Required && s.user == "":
		return replyAuthRequired
	}
	return replyNoSubmit
}

// loginWouldHold: the connector's rights in force would let the login
// that ended keep a recipient at domain — its authenticated rights (and
// the servers' for a server account's login), as a RCPT of it would be
// judged (domainAllowed) had the login stood.
func (s *session) loginWouldHold(domain string, postmaster bool) bool {
	if s.atTLS && !s.tlsActive() {
		return false
	}
	p := s.perms
	has := func(right string) bool {
		return slices.Contains(p.Anonymous, right) || slices.Contains(p.Authenticated, right) ||
			s.loginServer && slices.Contains(p.Servers, right)
	}
	typ := s.srv.routing.Load().Accepted(domain)
	inside := typ == routing.Authoritative || typ == routing.InternalRelay
	return typ != routing.NotAccepted && has(config.RightSubmit) || has(config.RightRelay) || postmaster && inside
}
