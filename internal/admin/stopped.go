package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
)

// ErrStopped means the daemon answered the connection and then went
// away while it carried out the request: it was running when the
// command began, and is not now (killed, crashed, stopped). Whether a
// command that changes something took effect is unknown.
var ErrStopped = errors.New("umbra stopped")

// ErrPermission means this process may not connect to the admin
// socket (connect: permission denied): whether a daemon runs there is
// not known; the socket's owner, or root, may use it (rt17a F4).
var ErrPermission = errors.New("permission denied on the admin socket")

// permissionErr is ErrPermission for the dial error err: the socket,
// its owner, group and mode (or those of the directory that refuses the
// way to it), the user this process runs as, and what to do.
func (c *Client) permissionErr(err error) error {
	return c.shown(fmt.Errorf("%w %s%s: this command runs as %s, which may not use it; whether umbra runs is not known. "+
		"Run the command as the socket's owner, a member of its group, or root (sudo umbra …): %v",
		ErrPermission, c.path, socketOwner(c.path), queue.UserName(os.Geteuid()), err))
}

// socketOwner is " (owned by USER:GROUP, mode M)" of the socket at path,
// or of its directory when the socket cannot be looked at; "" when
// neither can.
func socketOwner(path string) string {
	if o, ok := queue.OwnerText(path); ok { // one look at the socket: false when it cannot be looked at
		return " (owned by " + o + ")"
	}
	if o, ok := queue.OwnerText(filepath.Dir(path)); ok {
		return fmt.Sprintf(" (its directory %s is owned by %s)", filepath.Dir(path), o)
	}
	return ""
}

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
	if errors.As(err, new(*reachedDaemon)) && errors.As(err, &op) && op.Op == "dial" {
		// The request reached the daemon, got no answer, and the
		// transport sent it again (a GET on a kept-alive connection) on
		// a connection whose dial found nothing: the daemon went away
		// during the request, not "not running" (lifert38-F2). Told as a
		// cut connection is, below: still running, or stopped.
		err = op.Err
	}
	if errors.As(err, &op) && op.Op == "dial" && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) {
		return c.permissionErr(err)
	}
	if errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.EAGAIN) {
		// A listener at the path whose backlog is full: the daemon is
		// there and takes no connection (busy, or stopped with
		// SIGSTOP) — not its socket gone, which /proc/net/unix alone
		// would say (rr25 F1: who answers at the path decides). The
		// connection was refused, so nothing of the request was sent:
		// not outcome, which is for a request that may have reached
		// the daemon (rr-sockadm25 F4).
		return c.shown(fmt.Errorf("the admin socket %s took no connection for %s: as many wait there as it holds (umbra busy, or stopped "+
			"with SIGSTOP?); nothing was sent: try again: %v", c.path, what, err))
	}
	if errors.As(err, &op) && op.Op == "dial" {
		mark := c.startingMarkErr() // startmark.go
		if errors.Is(mark, ErrStopping) && c.databaseHeld() {
			return mark // its drain ended, its database still held: stopping, not "starting"
		}
		if serr := c.startingErr(); serr != nil {
			return serr // its database held: starting, not "not running" (rt21c L5); a db command; or its socket gone
		}
		if mark != nil {
			return mark // its database not locked yet: starting all the same
		}
		if gerr := c.socketGoneErr(0, ""); gerr != nil {
			return gerr // a process listens on the socket made at the path: running, not "not running"
		}
		if eerr := c.startedWithErr(); eerr != nil {
			return eerr // a serve of the same file runs with the data_dir it named at its start (rt26c F2)
		}
		if oerr := c.OtherServeErr(); oerr != nil {
			return oerr // the default configuration's socket; a serve started with -c runs elsewhere (rt27c F4)
		}
		if nerr := c.notSocketErr(); nerr != nil {
			return nerr // a regular file at the path, no daemon of it running: the wrong path (rt33c F4)
		}
		return c.notRunningErr(err) // in words: the socket, the database, not held (rt33c F5)
	}
	// The file at the path is another process's socket, the daemon
	// listening on the one it made (rt24c F6): what dropped the
	// connection, or kept it unanswered, is not umbra — not "stopped",
	// not "busy".
	if gerr := c.replacedErr(); gerr != nil {
		return gerr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return c.shown(fmt.Errorf("umbra did not finish %s within %s (it accepted the connection: busy, or stopped with SIGSTOP?)%s: %v",
			what, c.http.Timeout, outcome, err))
	}
	// What answered is not HTTP, and the process listening at the path
	// is not the daemon: another program's socket (an SSH agent, a
	// database) — the wrong path, not umbra stopped (rr34 opsrt33, a
	// sibling of rt33c F4). A daemon gone during the request sends no
	// bytes that are not HTTP: its EOF or reset stays "stopped".
	if c.path != "" && strings.Contains(err.Error(), "malformed HTTP") {
		if peer, ok := peerAt(c.path); ok && peer != 0 {
			// A process with a command line (a daemon killed this
			// moment is a zombie without one, still listening a moment)
			// that is not umbra serve.
			if pid, _ := c.daemonPid(nil, peer); pid != peer && cmdlineOf(peer) != "" {
				return c.shown(notAdminSocketError(fmt.Sprintf("%s is not umbra's admin socket: the process listening there (pid %d: %s) gave %s no HTTP answer of umbra's (%v): %s",
					c.path, peer, cmdlineOf(peer), what, errnoOf(err), whereToLook)))
			}
		}
	}
	if c.path != "" {
		if c.answers() {
			return c.shown(fmt.Errorf("umbra closed the connection during %s; it is still running, its log says why%s: %v",
				what, outcome, err))
		}
		// No answer because the socket's file is gone while the daemon
		// still listens on the socket it made: it runs (not "stopped").
		// A killed daemon's file is still there: not asked then.
		if fi, lerr := os.Lstat(c.path); lerr != nil || fi.Mode()&os.ModeSocket == 0 {
			if gerr := c.socketGoneErr(0, ""); gerr != nil {
				// gerr is in the text form already: joined to this
				// refusal's own, not escaped a second time.
				return jsonsafe.Textf("%w; %w", c.shown(fmt.Errorf("umbra closed the connection during %s; it is still running, its log says why%s: %v",
					what, outcome, err)), gerr)
			}
		}
	}
	return c.shown(fmt.Errorf("%w during %s (it was running when that began; see its log, and start it again)%s: %v",
		ErrStopped, what, outcome, err))
}

// reachedDaemon is the error of a request written whole to the daemon
// (sendTraced): whatever followed, the daemon had it.
type reachedDaemon struct{ err error }

func (r *reachedDaemon) Error() string { return r.err.Error() }
func (r *reachedDaemon) Unwrap() error { return r.err }

// sendTraced is hc.Do(req), its error marked reachedDaemon when the
// request was written whole to a connection first: the transport may
// send a GET that got no answer again on a new connection, and that
// dial's failure is then not the whole story (transportErr).
func sendTraced(hc *http.Client, req *http.Request) (*http.Response, error) {
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		}}))
	resp, err := hc.Do(req)
	if err != nil && wrote.Load() {
		err = &reachedDaemon{err}
	}
	return resp, err
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

// probeTimeout bounds the wait for the daemon's answer to the probe of
// answers.
const probeTimeout = 3 * time.Second

// answers reports whether a daemon answers on the admin socket. A
// connection alone proves nothing: when a daemon is killed, the kernel
// closes its connections before its listening socket, and in between a
// new connection is taken into the listener's backlog although no one
// will ever accept it. Only an answer (any HTTP response) does; the
// backlog's connection is reset when the listener closes. A connection
// taken but not answered within probeTimeout is a daemon that runs but
// does not answer (busy, or stopped with SIGSTOP).
func (c *Client) answers() bool {
	conn, err := net.DialTimeout("unix", c.path, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	if c.probed != nil {
		c.probed()
	}
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := io.WriteString(conn, "GET /v1/status HTTP/1.1\r\nHost: umbra\r\nConnection: close\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
