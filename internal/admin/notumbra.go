package admin

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"umbra/internal/config"
)

// The refusals of a socket path that reaches no umbra (rt33c F4, F5),
// in words rather than Go's HTTP error: the socket, the transport
// database and whether a process holds it. A path that is no socket
// (a regular file) and a socket whose answer is not umbra's (another
// program's) are the wrong path given, not umbra not running.

// ErrNotAdminSocket means the path given for the admin socket is not
// umbra's admin socket: no socket at all (a regular file), or another
// program's socket whose answer is not umbra's. The CLI exits 64.
var ErrNotAdminSocket = errors.New("not umbra's admin socket")

// notAdminSocketError is ErrNotAdminSocket in words of its own.
type notAdminSocketError string

func (e notAdminSocketError) Error() string        { return string(e) }
func (e notAdminSocketError) Is(target error) bool { return target == ErrNotAdminSocket }

// notRunningError is ErrUnavailable in words of its own.
type notRunningError string

func (e notRunningError) Error() string        { return string(e) }
func (e notRunningError) Is(target error) bool { return target == ErrUnavailable }

// whereToLook is the advice of a path that is not umbra's admin socket.
const whereToLook = "give the daemon's admin socket (server.admin_socket of its configuration; by default admin.sock in its data directory)"

// notSocketErr refuses a path at which a file that is no socket (nor a
// directory, which the CLI refuses itself) lies: nothing can listen
// there, whatever runs. nil otherwise.
func (c *Client) notSocketErr() error {
	fi, err := os.Lstat(c.path)
	if err != nil || fi.Mode()&os.ModeSocket != 0 || fi.IsDir() {
		return nil
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		if t, err := os.Stat(c.path); err != nil || t.Mode()&os.ModeSocket != 0 || t.IsDir() {
			return nil
		}
		fi, _ = os.Stat(c.path)
	}
	return c.shown(notAdminSocketError(fmt.Sprintf("%s is not a socket (%s is there), so not umbra's admin socket: %s",
		c.path, config.FileKind(fi.Mode()), whereToLook)))
}

// notRunningErr is the refusal of a socket nothing answers on and of
// a transport database no process holds (startingErr found none): the
// socket and why it took no connection, the database and that it is
// not held, or that it is not known.
func (c *Client) notRunningErr(err error) error {
	why := fmt.Sprintf("the admin socket %s takes no connection (%v)", c.path, errnoOf(err))
	switch {
	case errors.Is(err, syscall.ENOENT):
		why = fmt.Sprintf("there is no admin socket at %s", c.path)
	case errors.Is(err, syscall.ECONNREFUSED):
		why = fmt.Sprintf("nothing listens on the admin socket %s (a socket file a stopped umbra left)", c.path)
	}
	db := "; its transport database is not known to this command (name the daemon's configuration with -c to have it looked at)"
	if c.database != "" {
		db = fmt.Sprintf(", and no process holds its transport database %s", c.database)
	}
	return c.shown(notRunningError(fmt.Sprintf("umbra is not running: %s%s", why, db)))
}

// errnoOf is the system's words of a dial error, without Go's
// operation and address (those the refusal says itself).
func errnoOf(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

// notUmbraAnswerErr is the refusal of a 200 answer this command cannot
// read (detail: why): of the daemon (a release other than this
// command's) when it is the one listening, else of another program's
// socket at the path.
func (c *Client) notUmbraAnswerErr(method, path string, detail error) error {
	if pid, daemon := c.daemonAnswers(); daemon {
		return c.shown(fmt.Errorf("the daemon on %s (pid %d) answered %s %s with what this command cannot read (a release other than this command's?): %v",
			c.path, pid, method, path, detail))
	}
	return c.shown(notAdminSocketError(fmt.Sprintf("%s is not umbra's admin socket: it answered %s %s with what is not umbra's answer (%v): %s",
		c.path, method, path, detail, whereToLook)))
}

// notUmbraStatusErr is the refusal of a status answer without the
// server's name, which every release's status names, when the process
// listening at the path is not known to be the daemon: another
// program's socket (rt33c F4). nil when the daemon answers there.
func (c *Client) notUmbraStatusErr() error {
	if _, daemon := c.daemonAnswers(); daemon {
		return nil
	}
	return c.shown(notAdminSocketError(fmt.Sprintf("%s is not umbra's admin socket: it answered GET /v1/status without the server's name, which umbra's status always says: %s",
		c.path, whereToLook)))
}

// unmarkedAnswerErr is the refusal of an answer without AdminHeader,
// which umbra's admin server sets on every answer: another program's
// socket at the path, whatever its answer decodes to (an empty JSON list
// is not an empty queue). nil when the process listening there is the
// daemon: a daemon of an earlier release, still running after this
// command's binary was upgraded and before its restart, sets no such
// header, and its answers are read as before.
func (c *Client) unmarkedAnswerErr(method, path string) error {
	if c.path == "" {
		return nil
	}
	if _, daemon := c.daemonAnswers(); daemon {
		return nil
	}
	return c.shown(notAdminSocketError(fmt.Sprintf("%s is not umbra's admin socket: it answered %s %s without the %s header umbra's admin server sets on every answer: %s",
		c.path, method, path, AdminHeader, whereToLook)))
}
