package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"
)

// NotSentError is a command go-smtp refused to write: it returned an
// error before any byte of the command reached the connection ("smtp:
// Illegal address" for an ORCPT it cannot encode, "smtp: Malformed
// NOTIFY parameter value", "smtp: a line must not contain CR or LF",
// "smtp: server does not support SMTPUTF8"). The session is as it was:
// the next hop saw nothing, the connection is not broken, and the other
// recipients of the transaction go on (rr27 F3: delivery took such a
// refusal for a lost connection, 451 4.4.2, and deferred with it every
// recipient after it, at every attempt, until the message expired).
type NotSentError struct {
	Cmd string // "MAIL" or "RCPT"
	Err error  // go-smtp's refusal
}

func (e *NotSentError) Error() string {
	return e.Cmd + " not sent: the command could not be written (" + e.Err.Error() + ")"
}

func (e *NotSentError) Unwrap() error { return e.Err }

// NotSent reports whether err is a command that was never sent
// (NotSentError).
func NotSent(err error) bool {
	var ns *NotSentError
	return errors.As(err, &ns)
}

// notSent makes err, go-smtp's answer to command cmd, a NotSentError
// when it is no reply and nothing was written since writes was before:
// go-smtp refused to write the command. Any other err is returned as it
// is (a reply, or a write or read that failed: the connection's).
func (c *Client) notSent(cmd string, before uint64, err error) error {
	if err == nil || c.sc.writes != before {
		return err
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return err
	}
	return &NotSentError{Cmd: cmd, Err: err}
}
