package smtp

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
)

// What a reload changes of a session that is open (rt28b F1). A
// session's rights to authenticate are those of the configuration in
// force at the moment it uses them, never those of the moment its
// connection was opened: sessions can be kept open for hours.
//
//   - AUTH is judged against the connector in force that a new
//     connection from the session's address on its binding would be
//     given (authConn): its own (inForce) while that one takes the
//     address, another one a reload gave the address to, the one it
//     was renamed to: its credentials, mechanisms and allow_insecure
//     (EHLO offers its mechanisms: AuthMechanisms, authOffer);
//     max_auth_failures is the session's own connector's; the AUTH
//     throttle is server-wide already. None judges it where no
//     connector in force takes the address (replyAuthNoConnectorAtAddress):
//     454, no password checked. The account is judged from then on by the
//     connector that took the AUTH (authBy, authJudge).
//   - One rule for an authentication a reload finds (rt32c F3): it
//     stands where the connector now taking the session's address
//     would authenticate the same account with the same credentials
//     (authsAt) — the connector that judged it, or any other the
//     address went to: a connector renamed with its settings as they
//     were is one — and ends where it would not. Where the connector
//     that judged it still takes the address, it is that connector's
//     credentials that end it: an account removed, given another
//     password or flag, AUTH taken from the connector, AUTH left to
//     TLS alone for a session that authenticated in clear
//     (revokedInClear) — the session
//     loses its authentication (logged) and goes on with the rights left
//     to it; the first MAIL or RCPT those refuse is refused 530 5.7.0
//     with that reason in place of their refusal, once (tellLoginLost;
//     replyRevoked: a reply for each of the account removed, its
//     password changed, its server flag taken or given, replyAuthTaken,
//     replyDirectoryRevoked), and one they take is taken; a transaction
//     already past DATA keeps its reply. Where the address went to another
//     connector (or to none) that would not authenticate it, it ends
//     too (dropAuthOffAddress, below), and the first MAIL or RCPT the
//     rights left refuse is refused 530 5.7.0 saying why in words
//     (offAddressWhy) — judged by
//     the configuration in force alone, so that two reloads with no
//     command between them (a rename, then the account removed) end it
//     with a true reply, not silently. Either way the log line and the
//     reply say what happened and nothing else. The session has no
//     authentication then, so it may AUTH again on the same connection,
//     judged by the credentials in force (RFC 4954 §4 refuses only an
//     AUTH after a successful one that still holds): go-smtp keeps a
//     completed AUTH for the connection's life, so the layer runs that
//     exchange itself (authAgain), with the session's own Auth.
//   - Revoked, a session keeps only what it had as the account's
//     session, less the account's: a transport server by its
//     certificate that authenticated as a plain account gave up the
//     servers' rights and does not get them back (dropRevokedAuth only
//     ever lowers them).
//   - A shadow session (XSHADOW answered) ends at its next MAIL or
//     shadow verb with 421 4.7.0 once its server is no longer a
//     transport server of the topology in force, or its account was
//     revoked as above (shadowStanding): a 421 makes the peer try again
//     on a new connection, judged by the configuration in force, where
//     a 5xx to a MAIL with XSHADOW= would fail every recipient for good.
//   - A transport server by its connector's trust (externally_secured)
//     stays one only while the connector in force is so (a removed one
//     is not): its shadow session ends as above and its headers lose
//     their trust (trustedServer); its rights are refreshRights' (it
//     keeps only what both configurations grant).
//   - A session whose connector the configuration in force no longer
//     gives its address (atOwnConnector: the connector removed, renamed,
//     or its remote_ranges narrowed away from the address; rt31b F1, R1)
//     is a transport server no more by any credential it had (serverNow),
//     its shadow session ends at its next MAIL or shadow verb (421
//     4.7.0) — it is one again only by a server account the connector
//     that takes its address now authenticates on it (authBy), as a new
//     connection there would be, with the servers' rights both grant —,
//     and it has the anonymous rights the connector that takes its
//     address now grants a new connection there in the TLS state the
//     session has — its authenticated ones where that connector would
//     authenticate its account as its own did (authsAt) —, none when
//     none does (refreshRights). Its authentication ends where the
//     connector at its address would not hold it (dropAuthOffAddress:
//     none takes the address, or the one that does offers no AUTH to it
//     or does not hold the account as at AUTH), at its next command that
//     judges it (MAIL, RCPT, DATA, BDAT) and at the end of the body, and
//     the first MAIL or RCPT the rights left refuse is told so (530
//     5.7.0, the reason in words: tellLoginLost).
//   - At DATA and at the first BDAT chunk, before any of the body is
//     taken, the transaction is judged as at the end of the body
//     (rightsLostBeforeBody): a reload since its last RCPT that took a
//     recipient's right is answered there, 451 4.7.1 in place of the 354,
//     so that the client sends no body to have it refused after.
//   - At the end of the body the session's rights are those it has
//     then: data, once the body has been read, drops an authentication
//     a reload revoked (or that the connector at its address would not
//     hold) during the body and the servers' rights it took
//     (lowerServer) before the message is judged (its trace field,
//     written again, origin, header firewall, shadow on receipt,
//     delayed acknowledgement), and its recipients are judged again by
//     the rights it has then (rcptRightsLost: 451 4.7.1, nothing queued,
//     where one lost the right it was accepted under, rightlost.go), as
//     checkedRcpts judges a recipient a check added.
//   - The checks of the connector in force judge the session from its
//     next MAIL on (followChecks) — of the connector that takes its
//     address now where its own no longer does (atAddress) —: the rate
//     limits (rateLimitsCheck,
//     stateless, its counts the process's) and every other check
//     without per-session state as reloaded; a milter's session state
//     stays until the reload removes that milter.
//   - max_message_size and max_recipients of the connector in force
//     hold an open session where they are lower than those it began
//     with (followSizeLimit, recipientLimit); go-smtp keeps the ones the
//     session's EHLO announced, so a raised one gives it nothing.
//   - TLS and AUTH required (tls.required, auth.required) are read from
//     the connector in force at each MAIL, as its permissions are
//     (refreshRights) — from the connector that takes the session's
//     address now where its own no longer does (requireConn), with the
//     replies a new connection there gets; the rights that connector
//     grants too wait for the session to meet them (atTLS, atAuth) and
//     come with its STARTTLS or AUTH on the same connection.

var (
	// replyAuthTaken refuses the next MAIL or RCPT of a session whose
	// receive connector a reload left offering no AUTH.
	replyAuthTaken = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: a reload took AUTH from this connection's receive connector; the session continues unauthenticated"}
	// replyAuthNoConnectorAtAddress refuses AUTH on a session whose
	// address no receive connector in force takes any more (a new
	// connection from it would be refused): no password is checked
	// against credentials that no longer serve it.
	replyAuthNoConnectorAtAddress = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Authentication unavailable: no receive connector takes this connection's address since a reload; connect again"}
	// replyAuthMechWithdrawn ends an AUTH exchange whose mechanism a
	// reload took, while it ran, from the connector that takes the
	// session's address (authSpanned): no password is checked.
	replyAuthMechWithdrawn = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Authentication unavailable: a reload took this mechanism from the receive connector that takes this connection's address; see EHLO and authenticate again"}
	// replyAuthWithdrawn ends an AUTH exchange where a reload, while it
	// ran, left the connector that takes the session's address offering
	// no AUTH at all (authSpanned): no password is checked, and EHLO
	// would offer no mechanism to try again with.
	replyAuthWithdrawn = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Authentication unavailable: a reload took AUTH from the receive connector that takes this connection's address; the session continues unauthenticated"}
	// replyAuthInClearWithdrawn ends an AUTH exchange in clear on a
	// connection that can STARTTLS, whose connector a reload, while it
	// ran, left offering AUTH only over TLS (authSpanned).
	replyAuthInClearWithdrawn = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Authentication unavailable without TLS since a reload: issue STARTTLS and authenticate again"}
	// replyAuthCannotTLS refuses AUTH where the connector that takes the
	// session's address offers it only over TLS and this connection
	// cannot start TLS (it was opened on a connector without a
	// certificate): a 4xx, since only a new connection can authenticate
	// (authNeedsTLS).
	replyAuthCannotTLS = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Authentication unavailable: AUTH needs TLS here and this connection cannot start TLS; connect again, issue STARTTLS and authenticate"}
	// replyAuthInClearTaken refuses the next MAIL or RCPT of a session
	// that authenticated in clear (allow_insecure) on a connector a
	// reload left offering AUTH only over TLS (revokedInClear).
	replyAuthInClearTaken = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: a reload left this connection's receive connector offering AUTH only over TLS; the session continues unauthenticated"}
	// replyAuthRevoked refuses the next MAIL or RCPT of a session whose
	// account is no longer valid, for a change the credentials do not
	// tell apart (revokedAccount).
	replyAuthRevoked = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: the account this session authenticated as was removed or changed; connect again and authenticate"}
	// replyDirectoryRevoked is replyAuthRevoked for an account of the
	// directory: what the directory tells is that it no longer has the
	// account (removed, disabled through account_filter) or changed its
	// server flag — a password changed in the directory is not seen by
	// a session already authenticated (umbra keeps no password to bind
	// with again), so the reply does not name one.
	replyDirectoryRevoked = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: the account directory no longer has the account this session authenticated as, or changed its rights; connect again and authenticate"}
)

// inForce is the session's receive connector as the configuration in
// force has it (the connector of the same name), nil when a reload
// removed or renamed it.
func (s *session) inForce() *connector {
	set := s.srv.rights.Load()
	if set == nil {
		return s.c
	}
	return set.byName[s.c.cfg.Name]
}

// authConn is the connector in force that judges an AUTH of the session
// now: the one a new connection from its address on its binding would
// be given (atAddress) — its own while that one still takes the
// address, another one a reload gave the address to, the one its own
// was renamed to —, nil when none would take it
// (replyAuthNoConnectorAtAddress). Before any reload, its own.
func (s *session) authConn() *connector {
	set := s.srv.rights.Load()
	if set == nil {
		return s.c
	}
	return s.atAddress(set, set.byName[s.c.cfg.Name])
}

// authSpanned is the connector in force that judges the response of an
// AUTH exchange with mechanism mech when that response arrives
// (authConn), as an exchange begun now would be judged: a reload
// between the exchange's first line and its last (LOGIN's password
// after its user name, PLAIN's response after a 334) has the
// credentials, the :server flags and the connector as reloaded judge
// it, never those the exchange began under. Where no connector takes
// the address any more, where the one that does offers no mech, or
// offers AUTH only over TLS to a session in clear, nothing is checked
// (no guessing against credentials that do not serve the session; no
// password taken in clear where the connector wants TLS) and the reply
// is a 4xx that says why: the client may authenticate again, judged
// then.
func (s *session) authSpanned(mech string) (*connector, error) {
	cur := s.authConn()
	switch {
	case cur == nil:
		s.srv.refusals.log(s.log, "authentication refused", "no_connector_at_address", replyAuthNoConnectorAtAddress, s.ip)
		return nil, replyAuthNoConnectorAtAddress
	case cur.creds == nil:
		s.srv.refusals.log(s.log, "authentication refused", "auth_withdrawn", replyAuthWithdrawn, s.ip)
		return nil, replyAuthWithdrawn
	case !containsFold(cur.cfg.Auth.Mechanisms, mech):
		s.srv.refusals.log(s.log, "authentication refused", "mechanism_withdrawn", replyAuthMechWithdrawn, s.ip, "mechanism", mech)
		return nil, replyAuthMechWithdrawn
	case !s.tlsActive() && !cur.cfg.Auth.AllowInsecure:
		r := replyAuthInClearWithdrawn
		if s.vc != nil && s.vc.startTLSConfig() == nil {
			r = replyAuthCannotTLS
		}
		s.srv.refusals.log(s.log, "authentication refused", "tls_required", r, s.ip)
		return nil, r
	}
	return cur, nil
}

// authJudge is the connector in force whose credentials judge the
// session's authentication: the one of the name that judged its AUTH
// (authBy), nil when a reload removed or renamed it.
func (s *session) authJudge() *connector {
	if s.authBy == "" || s.authBy == s.c.cfg.Name {
		return s.inForce()
	}
	set := s.srv.rights.Load()
	if set == nil {
		return nil
	}
	return set.byName[s.authBy]
}

// dropAuthOffAddress ends an authentication the
// connector that judged it (authJudge) no longer holds where the
// session is: that connector removed, renamed or its ranges narrowed
// away from the address, and the connector in force that takes the
// address now would not authenticate the account as at AUTH (authsAt:
// it offers no AUTH to the session, or its credentials do not hold the
// account so) — or none takes the address. One rule, whatever moved the
// address: an authentication stands where the connector now taking the
// session's address would authenticate the same account with the same
// credentials (a connector renamed with its settings as they were
// included), and ends where it would not (revocation judges it there
// from then on). A new connection from the address could not be that
// account's, so the session is not either: its messages are not a
// user's submission (origin, trace field, back pressure, shadow on
// receipt, delayed acknowledgement), and it keeps the anonymous rights
// refreshRights leaves it, and is judged by those alone: the first MAIL
// or RCPT they refuse is told once why, in words (tellLoginLost: 530
// 5.7.0, replyRevoked with offAddressWhy's reason), one they take is
// taken. It may AUTH again, judged by
// the connector at its address (authConn).
// Reports whether it ended one.
func (s *session) dropAuthOffAddress() bool {
	if s.user == "" || s.revocation() != "" {
		return false // none, or dropRevokedAuth's to end and tell
	}
	set := s.srv.rights.Load()
	if set == nil {
		return false
	}
	at := s.atAddress(set, set.byName[s.c.cfg.Name])
	if at != nil && at == s.authJudge() && (!s.authAnchored || s.tlsActive() || at.cfg.Auth.AllowInsecure) {
		return false
	}
	if at != nil && s.authsAt(at) {
		// It stands at at: at judges it from now on (revocation), so
		// that a later reload removing the account there revokes it —
		// while AUTH is offered to this connection there, as it was when
		// it was anchored (authAnchored): a new connection that could not
		// authenticate there gets no authenticated rights either.
		s.authBy, s.authAnchored = at.cfg.Name, true
		return false
	}
	why := s.offAddressWhy(at)
	s.log.Info("authentication ended: the session continues unauthenticated", "reason", why)
	if s.logBeforeAuth != nil {
		s.log = s.logBeforeAuth
	}
	s.loginServer = s.serverAccount
	if s.shadowServer != "" && s.serverAccount {
		// Only a server account's login named the shadow session's
		// server; a plain account's names none (startShadow): that
		// session stands on its certificate or its address.
		s.shadowRevoked = true
	}
	s.user, s.serverAccount, s.authStamp, s.authBy, s.authAnchored = "", false, "", "", false
	// It may AUTH again; the first MAIL or RCPT the rights left refuse
	// is told, once, why the login ended (tellLoginLost: 530 5.7.0,
	// replyRevoked), whatever came
	// between — two reloads with no command between them included.
	s.authRevoked, s.revokeTold, s.revokedWhy, s.loginRcpts = true, false, why, len(s.rcpt)
	s.server = s.server && s.serverNow()
	return true
}

// offAddressWhy is, in words, why the connector at — the one that takes
// the session's address now, nil for none — would not hold the session's
// authentication (dropAuthOffAddress): judged by the configuration in
// force alone, so that it is true however many reloads came since the
// session's last command.
func (s *session) offAddressWhy(at *connector) string {
	switch {
	case at == nil:
		return offAddressNone
	case at.creds == nil || len(at.cfg.Auth.Mechanisms) == 0:
		return fmt.Sprintf(offAddressNoAuth, at.cfg.Name)
	case !s.tlsActive() && !at.cfg.Auth.AllowInsecure:
		return fmt.Sprintf(offAddressInClear, at.cfg.Name)
	case at.creds.stamp(s.user) == "":
		return fmt.Sprintf(offAddressNoAccount, at.cfg.Name)
	}
	switch stampChange(s.authStamp, at.creds.stamp(s.user)) {
	case changedPassword:
		return fmt.Sprintf(offAddressOtherPassword, at.cfg.Name)
	case changedFlagTaken:
		return fmt.Sprintf(offAddressFlagTaken, at.cfg.Name)
	case changedFlagGiven:
		return fmt.Sprintf(offAddressFlagGiven, at.cfg.Name)
	case changedPasswordAndFlag:
		return fmt.Sprintf(offAddressPasswordAndFlag, at.cfg.Name)
	}
	return fmt.Sprintf(offAddressOtherAccount, at.cfg.Name)
}

// How an account's stamp changed (stampChange): what a reload did to
// it, each told in its own words (frontrt35 F4: a server flag taken was
// told as "removed or its password changed").
const (
	changedOther = iota // told apart by neither (a stamp of the directory, or none at AUTH)
	changedRemoved
	changedPassword
	changedFlagTaken
	changedFlagGiven
	changedPasswordAndFlag
)

// stampChange is what turned the stamp an account had at AUTH (was)
// into the one the credentials give it now (now, "" for none).
func stampChange(was, now string) int {
	if now == "" {
		return changedRemoved
	}
	wasServer, wasHash, okWas := fileStamp(was)
	nowServer, nowHash, okNow := fileStamp(now)
	switch {
	case !okWas || !okNow:
		return changedOther
	case wasHash != nowHash && wasServer != nowServer:
		return changedPasswordAndFlag
	case wasHash != nowHash:
		return changedPassword
	case wasServer && !nowServer:
		return changedFlagTaken
	case !wasServer && nowServer:
		return changedFlagGiven
	}
	return changedOther
}

// fileStamp reads a stamp of the credentials file (stamp): its server
// flag and hash; false for any other.
func fileStamp(st string) (server bool, hash string, ok bool) {
	rest, ok := strings.CutPrefix(st, "file:")
	if !ok {
		return false, "", false
	}
	if h, srv := strings.CutPrefix(rest, "server:"); srv {
		return true, h, true
	}
	return false, rest, true
}

// The endings of an authentication the connector at the session's
// address would not hold (offAddressWhy): each is logged as the reason
// and told in the 530 (replyRevoked, with "this connection's address").
const (
	offAddressNone          = "no receive connector takes the session's address now"
	offAddressNoAuth        = "the receive connector that takes the session's address now (%s) offers no AUTH"
	offAddressInClear       = "the receive connector that takes the session's address now (%s) offers no AUTH without TLS"
	offAddressNoAccount     = "the receive connector that takes the session's address now (%s) does not have the account"
	offAddressOtherAccount  = "the receive connector that takes the session's address now (%s) has the account with another password or server flag"
	offAddressOtherPassword = "the receive connector that takes the session's address now (%s) has the account with another password"
	offAddressFlagTaken     = "the receive connector that takes the session's address now (%s) has the account without the server flag"
	offAddressFlagGiven     = "the receive connector that takes the session's address now (%s) has the account with the server flag"
	// Both changed.
	offAddressPasswordAndFlag = "the receive connector that takes the session's address now (%s) has the account with another password and server flag"
)

// inForceOrOwn is inForce, or the connector the session began on when a
// reload removed it: the settings it then keeps (limits, requirements).
func (s *session) inForceOrOwn() *connector {
	if c := s.inForce(); c != nil {
		return c
	}
	return s.c
}

// maxAuthFailures is the connector's max_auth_failures in force.
func (s *session) maxAuthFailures() int { return s.inForceOrOwn().cfg.Limits.MaxAuthFailures }

// stamp is what the credentials hold for user, an account they
// authenticated: its stored hash and server flag for an account of the
// file; for one of the account directory, that the file does not
// decide the name and the directory is still asked. "" when user is no
// such account any more.
func (c *Credentials) stamp(user string) string {
	if c == nil {
		return ""
	}
	if a, ok := c.users[user]; ok {
		if a.server {
			return "file:server:" + string(a.hash)
		}
		return "file:" + string(a.hash)
	}
	if c.ext != nil && !c.listsVariant(user) {
		return stampDirectory
	}
	return ""
}

// stampDirectory is the stamp of an account of the account directory:
// the file does not decide its name, and the directory is asked
// (directoryStanding).
const stampDirectory = "directory"

// revokedByDirectory is the revocation the account directory made.
const revokedByDirectory = "the account directory no longer has the account or changed its server flag"

// accountValid reports whether the session's authentication still
// holds: none was made, or the connector in force offers AUTH and holds
// the account as it was at AUTH — for an account of the directory, the
// directory still has it, with the same server flag (accountstanding.go).
func (s *session) accountValid() bool { return s.revocation() == "" }

// revocation is what ended the session's authentication, "" while it
// holds (accountValid): a reload (AUTH taken from the connector that
// holds it, the account removed from the credentials in force or given
// another password or server flag), or — with no reload at all — the
// account directory (it no longer has the account, or changed its
// server flag). The connector that holds it is the one that judged its
// AUTH while that one still takes the session's address, else the one
// that takes the address now where it would authenticate the account
// as at AUTH (authsAt: a connector renamed with its settings as they
// were among them); where none does, the authentication is not revoked
// here but ended by dropAuthOffAddress, with its own reason. The log
// line, the 530 (replyRevoked) and a shadow session's 421 say which.
func (s *session) revocation() string {
	if s.user == "" {
		return ""
	}
	cur := s.authJudge()
	if set := s.srv.rights.Load(); set != nil {
		at := s.atAddress(set, set.byName[s.c.cfg.Name])
		if cur == nil || at != cur || s.authAnchored && !s.tlsActive() && !at.cfg.Auth.AllowInsecure {
			if at == nil || !s.authsAt(at) {
				return "" // dropAuthOffAddress's
			}
			cur = at
		}
	}
	switch {
	case cur.creds == nil || len(cur.cfg.Auth.Mechanisms) == 0:
		return revokedAuthTaken
	case !s.tlsActive() && !cur.cfg.Auth.AllowInsecure:
		// A login made in clear where the connector allowed it
		// (allow_insecure), which the connector in force offers AUTH
		// to over TLS only: it would not authenticate this connection
		// as it is (authsAt), so it ends as the other revocations do.
		return revokedInClear
	case s.authStamp == "" || cur.creds.stamp(s.user) != s.authStamp:
		switch stampChange(s.authStamp, cur.creds.stamp(s.user)) {
		case changedRemoved:
			return revokedRemoved
		case changedPassword:
			return revokedPassword
		case changedFlagTaken:
			return revokedFlagTaken
		case changedFlagGiven:
			return revokedFlagGiven
		case changedPasswordAndFlag:
			return revokedPasswordAndFlag
		}
		return revokedAccount
	case s.authStamp == stampDirectory && !s.directoryStanding(cur.creds.ext):
		return revokedByDirectory
	}
	return ""
}

// The revocations a reload makes (revocation).
const (
	revokedAuthTaken = "a reload took AUTH from the receive connector that authenticated the session"
	// The session authenticated in clear (allow_insecure) and the
	// connector now offers AUTH over TLS only.
	revokedInClear = "a reload left the receive connector that authenticated the session in clear offering AUTH only over TLS"
	revokedAccount = "a reload removed the account or changed its password or server flag"
	// What a reload did to the account, told apart (stampChange).
	revokedRemoved         = "a reload removed the account"
	revokedPassword        = "a reload changed the account's password"
	revokedFlagTaken       = "a reload took the account's server flag"
	revokedFlagGiven       = "a reload gave the account the server flag"
	revokedPasswordAndFlag = "a reload changed the account's password and server flag"
)

// The 530 of each revocation a reload makes (replyRevoked), in the words
// of what it did.
var replyRevokedBy = map[string]*gosmtp.SMTPError{
	revokedRemoved:         revokedReply("the account this session authenticated as was removed"),
	revokedPassword:        revokedReply("the account this session authenticated as: its password was changed"),
	revokedFlagTaken:       revokedReply("the account this session authenticated as: its server flag was taken away"),
	revokedFlagGiven:       revokedReply("the account this session authenticated as: it was given the server flag"),
	revokedPasswordAndFlag: revokedReply("the account this session authenticated as: its password and its server flag were changed"),
}

func revokedReply(what string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: " + what + "; connect again and authenticate"}
}

// replyRevoked is the 530 that tells a revocation why (told once, in
// place of a refusal by the rights left: tellLoginLost).
func replyRevoked(why string) *gosmtp.SMTPError {
	switch why {
	case revokedByDirectory:
		return replyDirectoryRevoked
	case revokedAuthTaken:
		return replyAuthTaken
	case revokedInClear:
		return replyAuthInClearTaken
	case revokedAccount:
		return replyAuthRevoked
	}
	if r := replyRevokedBy[why]; r != nil {
		return r
	}
	// An authentication the connector at the session's address would
	// not hold (offAddressWhy): the reason in words.
	return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: " + strings.Replace(why, "the session's address", "this connection's address", 1) + "; the session continues unauthenticated"}
}

// dropRevokedAuth ends the session's authentication when its account is
// no longer valid (accountValid), and reports whether it did. The
// session goes on with its anonymous rights, and a transport server's
// only where it was one as the account's session and still is one
// without it (serverNow): a certificate session that authenticated as a
// plain account gave the servers' rights up, and a revocation is no way
// to get them back.
func (s *session) dropRevokedAuth() bool {
	why := s.revocation()
	if why == "" {
		return false
	}
	s.log.Warn("authentication revoked: the session continues unauthenticated", "reason", why)
	s.revokedWhy, s.loginRcpts, s.loginServer = why, len(s.rcpt), s.serverAccount
	if s.logBeforeAuth != nil {
		s.log = s.logBeforeAuth // its later lines name no user
	}
	if s.shadowServer != "" && s.serverAccount {
		// Ended at its next verb (shadowStanding) — where the account
		// named its server; a plain account's login names none
		// (startShadow): that session stands on its binding.
		s.shadowRevoked = true
	}
	s.user, s.serverAccount, s.authStamp, s.authBy, s.authRevoked = "", false, "", "", true
	s.server = s.server && s.serverNow()
	return true
}

// authAgain runs an AUTH on a connection on which go-smtp completed one
// (goAuthed) that a reload has since revoked (authSequence lets it
// through only then): go-smtp would answer 503 "Already authenticated"
// for the connection's life. The exchange is go-smtp's (handleAuth,
// v0.25.1) with the session's own Auth — the connector in force, its
// credentials, the throttle, max_auth_failures — and the same replies;
// a 334 makes the client's next line a response (authAgainResponse).
// arg passed authCommand: a mechanism and at most a valid response.
func (v *verbConn) authAgain(arg string) {
	f := strings.Fields(arg)
	srv, err := v.sess().Auth(strings.ToUpper(f[0]))
	if err != nil {
		v.reply(authErrorReply(err)...)
		return
	}
	var ir []byte
	if len(f) == 2 {
		ir, _ = decodeSASL(f[1])
	}
	v.againSASL = srv
	v.authAgainStep(ir)
}

// authAgainResponse takes the client's line after the layer's 334: "*"
// cancels, a line that is not base64 ends the exchange (501 5.5.2, as
// saslResponse has go-smtp's cancel answered), else the mechanism's next
// step.
func (v *verbConn) authAgainResponse(line []byte) {
	resp := strings.TrimRight(string(line), "\r\n")
	if resp == "*" {
		v.againSASL = nil
		v.reply("501 5.0.0 Negotiation cancelled")
		return
	}
	b, err := decodeSASL(resp)
	if err != nil {
		v.againSASL = nil
		v.reply(replyAuthBadBase64)
		return
	}
	v.authAgainStep(b)
}

// authAgainStep gives the mechanism the client's response: a challenge
// is sent as a 334, the end is 235 or the mechanism's refusal.
func (v *verbConn) authAgainStep(resp []byte) {
	challenge, done, err := v.againSASL.Next(resp)
	switch {
	case err != nil:
		v.againSASL = nil
		v.reply(authErrorReply(err)...)
	case done:
		v.againSASL = nil
		v.reply("235 2.0.0 Authentication succeeded")
	default:
		v.sasl = true
		v.traceUnit(trace334, nil)
		v.reply("334 " + base64.StdEncoding.EncodeToString(challenge))
	}
}

// decodeSASL is a SASL response's bytes: "=" is the empty one.
func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// authErrorReply is go-smtp's reply to an error of an AUTH exchange: an
// SMTPError's own, anything else 454 4.7.0 with its text.
func authErrorReply(err error) []string {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return replyLines(se)
	}
	return replyLines(&gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: err.Error()})
}

// serverNow reports whether the session is a transport server under the
// configuration in force, as a new connection like it would be: an
// authenticated session by its server account (a transport server of
// the topology in force) or its connector's trust; an unauthenticated
// one by its certificate (naming a transport server of the topology in
// force) or its connector's trust — the trust of the connector it began
// on only while the connector in force is externally secured too
// (trustInForce). None of them once the configuration in force no
// longer gives the session's address its connector (atOwnConnector: the
// connector removed, renamed, or its ranges narrowed away from it) —
// but a server account whose authentication stands at the connector
// that takes the address now (movedTo): one it authenticated on the
// session since (authBy), or one it would authenticate as the session's
// own connector did (authsAt: the same credentials, server flag
// included — a connector renamed with its settings as they were), as a
// new connection there would be one by it; a certificate and a trust
// judged by the connector the session began on are not.
// Callers only ever lower s.server by it.
func (s *session) serverNow() bool {
	if at := s.movedTo(); at != nil {
		return s.user != "" && (s.authBy == at.cfg.Name || s.authsAt(at)) && s.serverAccount && s.anyTransport(s.user)
	}
	if !s.atOwnConnector() {
		return false
	}
	trust := s.trustInForce()
	if s.user != "" {
		return trust || s.serverAccount && s.anyTransport(s.user)
	}
	names := s.certNamesNow()
	return trust || len(names) > 0 && s.anyTransport(names...)
}

// certNamesNow is the names of the session's client certificate while
// the certificate still verifies against the client CA of its receive
// connector in force (a reload that takes client_ca_file away, or
// changes it to one that did not sign it, takes the certificate's
// standing as a new connection with it would find it: none); a
// connector the reload removed keeps the names the session began with,
// as it keeps its other settings. Nil without a verified certificate.
func (s *session) certNamesNow() []string {
	if s.vc == nil || len(s.vc.certNames) == 0 {
		return nil
	}
	cur := s.inForce()
	if cur == nil || cur == s.c {
		return s.vc.certNames
	}
	if v := s.certVerdict; v != nil && v.c == cur {
		if !v.ok {
			return nil
		}
		return s.vc.certNames
	}
	ok := cur.tls != nil && cur.tls.ClientCAs != nil && len(s.vc.certChain) > 0
	if ok {
		inter := x509.NewCertPool()
		for _, c := range s.vc.certChain[1:] {
			inter.AddCert(c)
		}
		_, err := s.vc.certChain[0].Verify(x509.VerifyOptions{Roots: cur.tls.ClientCAs, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		ok = err == nil
	}
	s.certVerdict = &certVerdict{c: cur, ok: ok} // a reload makes a new connector: judged again then
	if !ok {
		return nil
	}
	return s.vc.certNames
}

// certVerdict is certNamesNow's last judgement of the session's client
// certificate: whether it verifies against connector c's client CA. A
// reload builds new connectors, so the verdict holds for as long as c is
// the one in force — one chain verification per reload, not per command.
type certVerdict struct {
	c  *connector
	ok bool
}

// shadowStanding is "" while the session's shadow session may go on,
// else the 421 reply that ends it (the connection closes after it): its
// account was revoked, or its server is no longer a transport server of
// the topology in force (for a server id no credential names, from the
// connection's address). A session that is no shadow session is
// judged by dropRevokedAuth alone.
func (s *session) shadowStanding() string {
	if s.shadowServer == "" {
		return ""
	}
	why := ""
	// Bound as startShadow bound it: by the topology, unless a server
	// account or a certificate named the server (a plain account's
	// login names none).
	byTrust := !s.serverAccount && (s.vc == nil || len(s.vc.certNames) == 0)
	s.dropAuthOffAddress() // sets shadowRevoked where it ends a server account's
	s.dropRevokedAuth()    // likewise; a plain account's login ends alone
	if s.shadowRevoked {
		why = "the account of this shadow session was revoked: " + s.revokedWhy
	} else if !s.atOwnConnector() && !s.serverNow() {
		why = "this connection's receive connector no longer takes its address (removed, renamed or its remote_ranges narrowed by a reload)"
	} else if !s.xshadowAt() {
		// The connector that takes this connection's address now — its
		// own, or another it was moved to — would refuse it XSHADOW (no
		// accept-xshadow for it there): answered as a new connection
		// there is, where no shadow session exists. A 421, not a 555 at
		// its next MAIL: the primary connects again and relays as to a
		// server that does not keep copies for it (rr34 F1: its own
		// connector losing the right left the session collecting
		// discard notifications).
		at := s.inForceOrOwn()
		if m := s.movedTo(); m != nil {
			at = m
		}
		why = "the receive connector that takes this connection's address now (" + at.cfg.Name + ") does not grant it accept-xshadow"
	} else if byTrust && !s.trustInForce() {
		why = "this connection's receive connector is no longer externally secured"
	} else if !byTrust && !s.serverAccount && len(s.certNamesNow()) == 0 {
		why = "this connection's client certificate is no longer signed by its receive connector's client CA"
	} else if d := s.srv.servers.Load(); d != nil {
		known, at := d.d.ServerAt(s.shadowServer, s.ip)
		switch {
		case s.shadowDeparted && !known:
			// Let in by the held record of it (departed.go): it stands
			// while the record names it at this address, with the
			// database id the session presented.
			if held, here, db := s.srv.heldServerAt(s.shadowServer, s.ip); !held || !here || db == "" || db != s.shadowPeerDB {
				why = "server " + s.shadowServer + " is not in this server's topology and nothing of it is held here any more"
			}
		case !known || !d.d.Transport(s.shadowServer):
			why = "server " + s.shadowServer + " is no longer a transport server of the organisation"
		case byTrust && !at:
			why = "server " + s.shadowServer + " no longer has this connection's address in the topology"
		}
	}
	if why == "" {
		return ""
	}
	s.log.Warn("shadow session ended", "shadow_server", s.shadowServer, "reason", why, "code", 421, "enhanced_code", "4.7.0") // why says by what: a reload, or the directory; the reply below
	s.shadowServer, s.shadowPeerDB, s.shadowRevoked = "", "", false
	s.server = false
	if tc, ok := s.raw.(*trackedConn); ok {
		tc.hangUp.Store(true) // the reply is the session's last
	}
	return "421 4.7.0 Shadow session ended: " + why + "; closing connection"
}

// xshadowAt reports whether the session has the right to a shadow
// session at the connector that takes its address now (its own, or the
// one it was moved to: movedTo), as XSHADOW would judge it now: the verb offered there and accept-xshadow among the
// rights that connector leaves it (refreshRights).
func (s *session) xshadowAt() bool {
	s.refreshRights()
	return s.advertiseXShadow() && s.server && s.has(config.RightAcceptXShadow)
}

// standing checks the session against the configuration in force
// before a MAIL or RCPT: a shadow session that may not go on ends (421);
// an authentication revoked is dropped here (logged, as one the
// connector at the session's address would not hold is by
// refreshRights), and the command is judged by the rights left to the
// session — the login's end is told only in the refusal of a command
// those rights refuse anyway (tellLoginLost), never as a refusal of one
// they take.
func (s *session) standing() error {
	if r := s.shadowStanding(); r != "" {
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: r[len("421 4.7.0 "):]}
	}
	s.dropRevokedAuth()
	s.lowerServer()
	return nil
}

// tellLoginLost is the refusal r of a MAIL or RCPT by the rights left to
// the session, or, where an authentication ended since the session was
// last told (revoked, or one the connector at its address would not
// hold: dropRevokedAuth, dropAuthOffAddress, found by this command or
// earlier by an EHLO, an XSHADOW or a body), the 530 5.7.0 that says
// why in words (replyRevoked) in its place, once: a refusal of a right
// an authentication could give (no right to submit or relay, or
// auth.required), where authenticating again is the cure. A command those
// rights take is not refused to tell it (a permanent reply to a command
// the configuration in force accepts would bounce mail a new connection
// delivers, RFC 5321 §4.2.1); a refusal for TLS keeps its own words.
func (s *session) tellLoginLost(r *gosmtp.SMTPError) *gosmtp.SMTPError {
	if !s.authRevoked || s.revokeTold {
		return r
	}
	switch r {
	case replyNoSubmit, replyRelayDenied, replyAuthRequired:
		s.revokeTold = true
		return replyRevoked(s.revokedWhy)
	}
	return r
}

// lowerServer takes the servers' rights from a session that was a
// transport server — by its server account, its certificate or its
// connector's trust — and that the configuration in force no longer
// makes one (the server gone from the topology, the trust taken away),
// as a new connection like it has none: at MAIL and RCPT (standing), and
// at XSHADOW, which grants the shadow session by it.
func (s *session) lowerServer() {
	if !s.server || s.serverNow() {
		return
	}
	s.log.Warn("no longer a transport server under the configuration in force: the session keeps no servers' rights") // s.log names the user after AUTH
	if s.serverAccount && !s.anyTransport(s.user) {
		s.serverAccount = false
	}
	s.server = false
}

// rateLimitsCheck is the name of the rate limits' check (package
// ratelimit): it keeps no per-session state and counts in the process's
// counters, so a session can take the one of a reload whole.
const rateLimitsCheck = "rate_limits"

// followChecks gives the session the checks of its connector in force
// (a reload's) from its next MAIL, in that connector's order: every
// check without per-session state (the rate limits, message
// authentication, any MAIL, RCPT or DATA stage check) as the reload
// built it — added, removed or changed —; a check with per-session
// state (a SessionCheck: a milter) keeps the session's own state while
// the connector in force still has a check of its name, is closed and
// dropped when the reload removed it, and one the reload added does not
// join the session (its connect and greeting stages have passed). The
// stages already passed (connect, greeting) are not run again. A
// session its connector in force no longer takes (its ranges narrowed
// away from its address, the connector removed or renamed) follows the
// checks of the connector that takes its address now (atAddress: its
// rate limits, their exempt ranges, rt31b F1, R1), as it has only that
// one's rights; one no connector takes keeps its own (it has no right
// left to use them on).
func (s *session) followChecks() {
	cur := s.inForce()
	if set := s.srv.rights.Load(); set != nil {
		if at := s.atAddress(set, cur); at != nil {
			cur = at
		}
	}
	if cur == nil || cur == s.c {
		return
	}
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if s.checks == nil {
		return // never opened (no greeting) or closed: nothing to follow
	}
	own := make(map[string]CheckSession)
	for _, ck := range s.checks {
		if cs, ok := ck.(CheckSession); ok {
			own[cs.Name()] = cs
		}
	}
	next := make([]Check, 0, len(cur.checks))
	for _, ck := range cur.checks {
		if _, ok := ck.(SessionCheck); ok {
			if cs, kept := own[ck.Name()]; kept {
				next = append(next, cs)
				delete(own, ck.Name())
			}
			continue
		}
		next = append(next, ck)
	}
	for name, cs := range own {
		s.log.Info("check removed by a reload: the session no longer asks it", "check", name)
		cs.Close()
	}
	s.checks = next
	s.dataChecks = wholeBodyChecks(s.checks)
}

// recipientLimit refuses a recipient past max_recipients: the
// connector's the session began with, or a lower one in force at the
// transaction's MAIL (maxRecipients) — 452 4.5.3 as go-smtp words it, so
// the verb layer counts it as its own (rcptOvershootLimit). Every RCPT
// the transaction answered 250 counts, a repeat too (rcptRepeats). It is
// the session's limit, not go-smtp's (newGoSMTP gives go-smtp none): a
// shadow copy's recipients are its primary's, as sent, taken under its
// primary's limits, and are not held to this one — a copy refused past
// this server's limit went to no holder configured alike (rravail40) —
// but to maxCopyRcpts, which any primary's copy meets.
func (s *session) recipientLimit() error {
	max := s.maxRecipients()
	if s.pendingCopyDB != "" {
		max = s.maxCopyRcpts()
	}
	if max <= 0 || len(s.rcpt)+s.rcptRepeats < max {
		return nil
	}
	return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 5, 3}, Message: fmt.Sprintf("Maximum limit of %d recipients reached", max)}
}

// maxRecipients is the transaction's max_recipients (0: none): the one
// the session began with, lowered to the one in force at its MAIL
// (txConn, reloadtxn.go); never raised past what go-smtp holds it to.
func (s *session) maxRecipients() int {
	max, own := s.txConn().cfg.Limits.MaxRecipients, s.c.cfg.Limits.MaxRecipients
	if max <= 0 || own > 0 && max >= own {
		return own
	}
	return max
}

// maxCopyRecipients is the least bound of a shadow copy's recipients
// (maxCopyRcpts): the most a message may have after group expansion
// (queue's bound).
const maxCopyRecipients = 10000

// maxCopyRcpts bounds a shadow copy's recipients, alone or in a batch
// record: not the holder's max_recipients for a client (recipientLimit),
// but the most any connector in force here, or the session's own, takes
// from one, and never fewer than maxCopyRecipients — a primary
// configured alike took no more, and a copy that names more than that
// is no primary's (rr2avail40: with no bound, a shadow session's RCPTs
// were kept without end, and a batch record named as many as its
// payload held).
func (s *session) maxCopyRcpts() int {
	n := max(maxCopyRecipients, s.c.cfg.Limits.MaxRecipients)
	if set := s.srv.rights.Load(); set != nil {
		for _, c := range set.conns {
			n = max(n, c.cfg.Limits.MaxRecipients)
		}
	}
	return n
}
