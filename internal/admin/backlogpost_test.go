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

// OPS-3 (rr-sockadm25 F4): a POST refused at connect (EAGAIN) was never sent, yet
// is told "whether it took effect is unknown: look before repeating it".
// OPS-3 (rr25 F1, the same mistake in the dial's branch): a daemon whose
// listen backlog is full (busy: it accepts no connection for a while)
// refuses a new connection with EAGAIN while its socket's file is in
// place. That is the daemon busy, not "its admin socket is gone … whose
// file was removed or replaced since" (socketGoneErr read /proc/net/unix
// only), nor "not running".
func TestBacklogFullPostSaysNothingSent(t *testing.T) {
	if _, err := os.Stat("/proc/net/unix"); err != nil {
		t.Skip("no /proc/net/unix")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
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
	defer lf.Close()
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
		defer c.Close()
	}
	if !full {
		t.Fatal("the backlog did not fill")
	}
	c := NewClient(sock)
	c.SetDatabase(db)
	err = c.doBody("POST", "/v1/queues/retry", nil, nil, nil)
	t.Log(err)
	if err == nil || strings.Contains(err.Error(), "whether it took effect is unknown") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("a POST refused at connect (nothing was sent): %v", err)
	}
}
