package smtp

import "errors"

// QuitBounded ends a session the server is in step with: QUIT, its
// reply read for at most quitWait (not the command timeout: nothing
// waits on a goodbye), then the connection closed whatever came (RFC
// 5321 §4.1.1.10; RFC 2033 for LMTP). A server that does not answer
// the QUIT costs its close at most quitWait. For the end of every
// session umbra opens: a delivery's LMTP session and a pooled one (rt41
// F4: umbra closed its LMTP sessions with no QUIT, and Dovecot logged
// "Disconnect … state=READY" for every delivery), a shadow session (a
// heartbeat, a watch, a probe, a push), a recipient check.
//
// A session out of step — a reply that never came or came broken (a
// deadline, a malformed or unbounded reply), a command written in part,
// the server speaking unasked — gets no QUIT: the connection is closed
// at once (ErrOutOfStep). The QUIT would be read as a reply to nothing,
// or its 221 taken from the reply still due.
//
// It returns nil when the server answered 221. Any other result says
// only that the session is closed: whether the server read the QUIT is
// not known, so a caller never takes an error here for a session the
// server completed, nor nil for one it did not (the server's state after
// a QUIT is its own). The wait for the reply is the next hop's time
// (SetAwaitReply).
func (c *Client) QuitBounded() error {
	if c.outOfStep() {
		c.Close()
		return ErrOutOfStep
	}
	defer c.awaitingReply()()
	saved := c.Client.CommandTimeout
	c.Client.CommandTimeout = min(saved, quitWait)
	if saved <= 0 {
		c.Client.CommandTimeout = quitWait
	}
	err := c.Client.Quit()
	c.Client.CommandTimeout = saved
	if err != nil {
		c.Close()
	}
	return err
}

// ErrOutOfStep is QuitBounded's error for a session it closed without
// a QUIT: the last command's reply never came whole.
var ErrOutOfStep = errors.New("session out of step: closed without QUIT")

// outOfStep reports whether the session may not speak again: a reply
// go-smtp could not take (badReply), a read or write of the connection
// that failed, a reply cut at a bound, or words of the server's read
// ahead and never asked for (as Alive judges a pooled session).
func (c *Client) outOfStep() bool {
	if c.badReply {
		return true
	}
	if c.sc.br != nil && c.sc.br.Buffered() > 0 {
		return true
	}
	rl, ok := c.sc.Conn.(*replyLimitConn)
	return ok && rl.outOfStep()
}

// Reset is go-smtp's RSET with a reply it could not take noted: the
// session is then out of step (QuitBounded).
func (c *Client) Reset() error {
	err := c.Client.Reset()
	if err == nil {
		c.txnOpen = false
	}
	if badReply(err) {
		c.badReply = true
	}
	return err
}
