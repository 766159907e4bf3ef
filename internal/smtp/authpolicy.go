package smtp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// AUTH replies (RFC 4954 §4, §6).
var (
	replyAuthUnknownMech   = &gosmtp.SMTPError{Code: 504, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "Unrecognized authentication type"}
	replyAuthInTransaction = &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "AUTH not permitted during a mail transaction"}
	replyAuthLockedOut     = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many authentication failures from your address, try again later"}
	replyAuthMalformed     = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication response"}
)

// saslReplies gives a mechanism's own errors (a PLAIN response without
// its two NULs, a LOGIN step too many) a permanent syntax reply; go-smtp
// would answer them 454, "try again later". Errors of umbra's own checks
// (535, 454 lock-out, 421) pass unchanged.
type saslReplies struct{ sasl.Server }

func (s saslReplies) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := s.Server.Next(response)
	var se *gosmtp.SMTPError
	if err != nil && !errors.As(err, &se) {
		err = replyAuthMalformed
	}
	return challenge, done, err
}

// Replies the verb layer gives to AUTH lines it refuses before go-smtp
// sees them (go-smtp would answer 502 and 454).
const (
	replyAuthSyntax    = "501 5.5.4 Syntax: AUTH mechanism [initial-response]"
	replyAuthBadBase64 = "501 5.5.2 Invalid base64 data"
)

// authAllowed decides whether an AUTH exchange may start on c, the
// session's connector in force: the mechanism is offered and no mail
// transaction is open (RFC 4954 §4). A source
// locked out by the AUTH throttle still gets the exchange: whether it
// may log in depends on the account (authLockedOut).
func (s *session) authAllowed(c *connector, mech string) error {
	switch {
	case c.creds == nil || !containsFold(c.cfg.Auth.Mechanisms, mech):
		return replyAuthUnknownMech
	case s.busy.Load():
		return replyAuthInTransaction
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// authLockedOut refuses an AUTH of a locked-out source that did not
// give a server account's right password: after the source's growing
// delay (authGuard.failedLockedOut), with 454 4.7.0, counted with the
// session's failures (max_auth_failures still ends it).
func (s *session) authLockedOut(name string) error {
	s.authFailures++
	delay := s.srv.guard.failedLockedOut(s.ip, name)
	s.observeAuthFailure("locked_out")
	reply := replyAuthLockedOut
	if s.authFailures >= s.maxAuthFailures() {
		reply = replyAuthLimit
	}
	s.srv.refusals.log(s.log, "authentication refused", "locked_out", reply, s.ip, "delay", delay)
	s.authDelay(delay)
	if reply == replyAuthLimit {
		if tc, ok := s.raw.(*trackedConn); ok {
			tc.hangUp.Store(true)
		}
	}
	return reply
}

// authFailed counts a failure with the session and with the server-wide
// throttle, and answers after the throttle's delay. Past the connector's
// max_auth_failures it ends the session (the reply is written, then the
// next read fails at once). The account is logged only when name is one
// (account, from the credentials file or the directory; "" otherwise): an
// unknown "name" may be a password typed in the wrong field.
func (s *session) authFailed(name, account, reason string) error {
	s.authFailures++
	delay, lockedNow := s.srv.guard.failed(s.ip, name, s.authReserved)
	s.authReserved = false
	s.observeAuthFailure(reason)
	attrs := []any{"delay", delay}
	if account != "" {
		attrs = append(attrs, "user", account)
	}
	if lockedNow {
		attrs = append(attrs, "locked_out_for", s.srv.guard.cfg.Lockout.D())
	}
	reply := gosmtp.ErrAuthFailed
	switch {
	case s.authFailures >= s.maxAuthFailures():
		reply = replyAuthLimit
	case lockedNow:
		reply = replyAuthLockedOut
	}
	s.srv.refusals.log(s.log, "authentication failed", reason, reply, s.ip, attrs...)
	s.authDelay(delay)
	if reply == replyAuthLimit {
		if tc, ok := s.raw.(*trackedConn); ok {
			tc.hangUp.Store(true)
		}
	}
	return reply
}

func (s *session) observeAuthFailure(reason string) {
	if po, ok := s.srv.obs.(PolicyObserver); ok {
		po.AuthFailure(s.c.cfg.Name, reason)
	}
}

// authDelay waits d on the server's clock, or until shutdown.
func (s *session) authDelay(d time.Duration) {
	if d <= 0 {
		return
	}
	t := s.srv.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-s.srv.ctx.Done():
	case <-s.srv.draining:
	}
}

// authCommand checks an AUTH command line's syntax before go-smtp sees
// it: a missing mechanism is a syntax error (501 5.5.4) and an initial
// response must be base64 or "=" (501 5.5.2, RFC 4954 §4). It returns
// the verb layer's reply, or "" to pass the line on.
func authCommand(arg string) string {
	f := strings.Fields(arg)
	switch {
	case len(f) == 0 || len(f) > 2:
		return replyAuthSyntax
	case len(f) == 2 && !validSASLResponse(f[1]):
		return replyAuthBadBase64
	}
	return ""
}

// validSASLResponse: "=" (an empty response) or standard base64.
func validSASLResponse(s string) bool {
	if s == "=" {
		return true
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// saslResponse takes a line sent during an AUTH exchange (after a 334):
// it is a SASL response, never a command, so the verb layer does not
// interpret it. "*" cancels (go-smtp answers 501 5.0.0); a response that
// is not base64 is handed to go-smtp as "*" too, and its 501 5.0.0 reply
// is rewritten to 501 5.5.2 by saslReply.
func (v *verbConn) saslResponse(line []byte) []byte {
	v.sasl = false
	resp := strings.TrimRight(string(line), "\r\n")
	if resp == "*" || validSASLResponse(resp) {
		return line
	}
	v.saslCancel = replyAuthBadBase64
	return []byte("*\r\n")
}

// saslBareNewline takes a line sent during an AUTH exchange that holds a
// bare CR or LF: refused whole like any such line (500 5.5.2, one
// framing rule), and the exchange ends with it — go-smtp is handed the
// cancel "*" and its reply becomes the refusal — so that the client's
// next line is a command again, as the 5xx it got tells it.
func (v *verbConn) saslBareNewline() []byte {
	v.sasl = false
	v.saslCancel = replyBareNewlineCmd
	return []byte("*\r\n")
}

// saslReply edits go-smtp's replies during AUTH: the 501 5.0.0 of the
// cancel the layer made up for an invalid response becomes 501 5.5.2
// (RFC 4954), for a line with a bare CR or LF 500 5.5.2. Every other reply passes unchanged.
func (v *verbConn) saslReply(b []byte) []byte {
	if v.saslCancel != "" && bytes.HasPrefix(b, []byte("501 5.0.0")) {
		r := v.saslCancel
		v.saslCancel = ""
		return []byte(r + "\r\n")
	}
	return b
}
