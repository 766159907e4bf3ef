package admin

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullBacklogClient is a client of an admin socket whose listen backlog
// is full (a daemon busy: it accepts nothing, and a connection is
// refused with EAGAIN while the socket's file is in place), with the
// database file beside it locked as by the running daemon. It skips the
// test where there is no /proc/net/unix.
func fullBacklogClient(t *testing.T) *Client {
	t.Helper()
	if _, err := os.Stat("/proc/net/unix"); err != nil {
		t.Skip("no /proc/net/unix")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // accepts nothing: the backlog fills at once
		t.Fatal(err)
	}
	db := filepath.Join(dir, "queue.db")
	lf, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	full := false
	for i := 0; i < 64 && !full; i++ {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			full = errors.Is(err, syscall.EAGAIN)
			if !full {
				t.Fatalf("dial %d: %v", i, err)
			}
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	if !full {
		t.Fatal("the backlog did not fill")
	}
	c := NewClient(sock)
	c.SetDatabase(db)
	return c
}

// OPS-3 (rr25 F1, the same mistake in the dial's branch): a daemon whose
// listen backlog is full (busy: it accepts no connection for a while)
// refuses a new connection with EAGAIN while its socket's file is in
// place. That is the daemon busy, not "its admin socket is gone … whose
// file was removed or replaced since" (socketGoneErr read /proc/net/unix
// only), nor "not running".
func TestBacklogFullIsBusyNotGone(t *testing.T) {
	c := fullBacklogClient(t)
	_, err := c.Status()
	t.Log(err)
	if err == nil || errors.Is(err, ErrSocketGone) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "busy") {
		t.Errorf("the daemon's backlog full: %v", err)
	}
}
