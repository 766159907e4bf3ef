package admin

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const startMarkChildEnv = "UMBRA_TEST_START_MARK_SOCKET"

// TestStartMarkChild is the child's part of the test below: it holds
// the start mark of the socket named, as umbra serve starting does
// (its command line has serve as its subcommand).
func TestStartMarkChild(t *testing.T) {
	sock := os.Getenv(startMarkChildEnv)
	if sock == "" {
		t.Skip("run by TestStartMarkTrustsOnlyItsInstallationsUser")
	}
	l, err := ListenStarting(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.WriteFile(sock+".ready", nil, 0o600)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock + ".ready"); err != nil {
			return
		}
	}
}

// OPS-3 (rr24 F1, ops26 5): a start mark (an abstract socket any local
// process may bind) is believed only from root or from the user that
// owns the transport database, its data directory or the admin socket's
// directory. Tests run as root, so the listener's uid came through as 0
// and the owner check was never run: the uid is now the seam's
// (markPeer), reported as another user's.
func TestStartMarkTrustsOnlyItsInstallationsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gives the data directory to another user: needs root")
	}
	data := t.TempDir()
	sock := filepath.Join(data, "admin.sock")
	db := filepath.Join(data, "queue.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(self, "-test.run=^TestStartMarkChild$", "serve")
	child.Env = append(os.Environ(), startMarkChildEnv+"="+sock)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { os.Remove(sock + ".ready"); child.Process.Kill(); child.Wait() }()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock + ".ready"); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the child did not take the start mark")
		}
	}
	const other = 4242 // a user that owns nothing here
	old := markPeer
	defer func() { markPeer = old }()
	markPeer = func(conn net.Conn) (uid, pid int, ok bool) {
		_, pid, ok = old(conn)
		return other, pid, ok
	}
	c := NewClient(sock)
	c.SetDatabase(db)
	if err := c.startingMarkErr(); err != nil {
		t.Fatalf("a mark of uid %d, which owns neither the database, its directory nor the socket's, is believed: %v", other, err)
	}
	// The same uid owning the database file: umbra's user.
	if err := os.Chown(db, other, other); err != nil {
		t.Fatal(err)
	}
	if err := c.startingMarkErr(); !errors.Is(err, ErrStarting) {
		t.Fatalf("a mark of the database's owner, uid %d: %v, want ErrStarting", other, err)
	}
	// Root's is believed whatever owns the files.
	os.Chown(db, 0, 0)
	markPeer = old
	if err := c.startingMarkErr(); !errors.Is(err, ErrStarting) {
		t.Fatalf("root's mark: %v, want ErrStarting", err)
	}
}
