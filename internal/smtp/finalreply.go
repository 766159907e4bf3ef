package smtp

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"time"

	"umbra/internal/queue"
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
		return queue.FinalReplyTimedOut(e.Wait) // the words the queue reads back (hostStopped)
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

// finalReplies reads the n replies to the final dot (1 for SMTP, one
// per accepted recipient for LMTP) — the one reader of them, for
// lock-step and pipelined transactions and for the empty message that
// ends a DATA opened without a recipient. Each reply gets its own wait,
// counted as the first one's is: the data timeout from the reply before
// it (watch.awaitReply: and from each progress the next hop made
// meanwhile), so an LMTP server that delivers to each mailbox in turn
// has the whole timeout for each (TestLMTPEachFinalReplyHasItsOwnWait);
// they shared one before. With no watch (the empty message) the
// connection's deadline, set by the caller, bounds the wait, and wait
// is that bound as the error reports it. A reply not read — none in
// time, one that does not parse, a stray 3xx, the connection lost — is
// a FinalReplyError, whatever the path: the replies read before it are
// returned with it.
func (c *Client) finalReplies(br *bufio.Reader, watch *bodyWatch, wait *time.Duration, n int) ([]DataReply, error) {
	out := make([]DataReply, 0, n)
	for len(out) < n {
		if len(out) > 0 && watch != nil {
			watch.awaitReply(c.SubmissionTimeout) // this reply's own wait, from the one before
		}
		code, texts, err := readReplyCode(br)
		if err == nil {
			err = stray(code, texts)
		}
		if err != nil {
			w := c.SubmissionTimeout
			if wait != nil {
				w = *wait
			}
			return out, finalReplyError(err, w) // timed out, unreadable, or lost
		}
		r := DataReply{Code: code, Text: strings.Join(texts, " ")}
		if code/100 != 2 {
			r = DataReply{Err: replyOf(code, texts)} // its enhanced code parsed: a 503 5.7.0 is a refusal, not out of step
		}
		out = append(out, r)
		if c.onFinal != nil {
			c.onFinal() // SetOnFinalReply: the host answered
		}
	}
	c.txnOpen = false // a reply to the end of the data, whatever it says, ends the transaction
	return out, nil
}

// finalReplyError is the error of reading a reply to the final dot,
// awaited for wait.
func finalReplyError(err error, wait time.Duration) error {
	if err == nil || isReply(err) {
		return err
	}
	return &FinalReplyError{Err: err, Wait: wait}
}
