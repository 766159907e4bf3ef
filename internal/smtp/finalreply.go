package smtp

import (
	"errors"
	"os"
	"time"
)

// FinalReplyError is a message sent whole, up to its final dot, whose
// reply never came or could not be read: the next hop may have taken
// the message (RFC 1047), and the session is out of step. Its words say
// what happened, for the operator and the sender alike:
//   - no reply within the data timeout: "timed out after 30s waiting for
//     the reply to the end of the message" (Wait is the data timeout,
//     counted from the next hop's last progress: bodywatch.go);
//   - a reply that does not parse (a malformed line, mixed codes, a
//     line or reply past the bounds): "unreadable reply to the end of
//     the message: …";
//   - anything else (the next hop closed the connection, a reset):
//     "reply to the end of the message: …", as before.
type FinalReplyError struct {
	Err  error
	Wait time.Duration
}

func (e *FinalReplyError) Error() string {
	switch {
	case e.TimedOut():
		return "timed out after " + e.Wait.String() + " waiting for the reply to the end of the message"
	case e.Unreadable():
		return "unreadable reply to the end of the message: " + e.Err.Error()
	}
	return "reply to the end of the message: " + e.Err.Error()
}

func (e *FinalReplyError) Unwrap() error { return e.Err }

// TimedOut reports whether no reply came within the data timeout.
func (e *FinalReplyError) TimedOut() bool { return errors.Is(e.Err, os.ErrDeadlineExceeded) }

// Unreadable reports whether the next hop replied with what cannot be
// taken for a reply.
func (e *FinalReplyError) Unreadable() bool {
	return badReply(e.Err) || errors.Is(e.Err, errMalformedReply) || errors.Is(e.Err, errUnexpectedReply)
}

// finalReplyError is the error of reading the reply to the final dot.
func (c *Client) finalReplyError(err error) error {
	if err == nil || isReply(err) {
		return err
	}
	return &FinalReplyError{Err: err, Wait: c.SubmissionTimeout}
}
