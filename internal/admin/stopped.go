package admin

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// ErrStopped means the daemon answered the connection and then went
// away while it carried out the request: it was running when the
// command began, and is not now (killed, crashed, stopped). Whether a
// command that changes something took effect is unknown.
var ErrStopped = errors.New("umbra stopped")

// transportErr says why a request that got no (complete) answer got
// none: no daemon to connect to (ErrUnavailable, as before), the daemon
// gone during the request (ErrStopped), no answer within the client's
// time bound, or the connection dropped by a daemon that still runs.
// what names the request for the operator ("the backup"), outcome
// says what became of it ("" for a request that changes nothing).
func (c *Client) transportErr(err error, what, outcome string) error {
	if outcome != "" {
		outcome = "; " + outcome
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("umbra did not finish %s within %s (it accepted the connection: busy, or stopped with SIGSTOP?)%s: %v",
			what, c.http.Timeout, outcome, err)
	}
	if c.path != "" {
		if conn, derr := net.DialTimeout("unix", c.path, time.Second); derr == nil {
			conn.Close()
			return fmt.Errorf("umbra closed the connection during %s; it is still running, its log says why%s: %v",
				what, outcome, err)
		}
	}
	return fmt.Errorf("%w during %s (it was running when that began; see its log, and start it again)%s: %v",
		ErrStopped, what, outcome, err)
}

// requestErr is transportErr for a request of do: a read that got no
// answer changed nothing; a change may or may not have been made.
func (c *Client) requestErr(err error, method, path string) error {
	outcome := ""
	if method != "GET" {
		outcome = "whether it took effect is unknown: look before repeating it"
	}
	return c.transportErr(err, "the command ("+method+" "+path+")", outcome)
}

// cutShort reports whether err is a response body that ended early
// (the connection closed under it), not a malformed answer.
func cutShort(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne)
}
