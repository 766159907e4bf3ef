package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOrphanListenerChild is the other process of the test below: it
// listens on a Unix socket made at UMBRA_TEST_ORPHAN_SOCK, closing every
// connection, until its standard input closes.
func TestOrphanListenerChild(t *testing.T) {
	path := os.Getenv("UMBRA_TEST_ORPHAN_SOCK")
	if path == "" {
		t.Skip("run by TestReplacedOnlyWhenAnotherAnswersAtThePath")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Println("listening")
	io.Copy(io.Discard, os.Stdin)
}

// OPS-3 (rr25 F1): "replaced since by the socket of pid N … Remove that
// file" is said only while another process answers at the path, told
// by the kernel (SO_PEERCRED), not by /proc/net/unix's list. Another
// process's socket at the path: replaced, naming it. Its file removed
// and the daemon's socket made again (the advice followed: Remake, what
// SIGHUP does) while the other process still listens on its unlinked
// socket — /proc/net/unix lists both under the path —: a connection the
// daemon drops is "closed the connection; still running", and a request
// it does not answer in time "did not finish … busy", never "replaced"
// (which told the operator to remove the daemon's live socket).
func TestReplacedOnlyWhenAnotherAnswersAtThePath(t *testing.T) {
	if _, err := os.Stat("/proc/net/unix"); err != nil {
		t.Skip("no /proc/net/unix")
	}
	q := &blockingQueue{started: make(chan struct{}), release: make(chan struct{})}
	s, sock := listenTest(t, q)
	defer s.Shutdown(context.Background())
	defer close(q.release)
	s.http.ErrorLog = log.New(io.Discard, "", 0) // the backup handler's panic
	s.SetDatabase(blockingBackuper{panics: true})
	// The daemon's transport database: this process holds its lock.
	db := filepath.Join(t.TempDir(), "queue.db")
	lf, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	client := func() *Client {
		c := NewClient(sock)
		c.SetDatabase(db)
		return c
	}

	// Another process's socket at the path.
	os.Remove(sock)
	other := exec.Command(os.Args[0], "-test.run=^TestOrphanListenerChild$")
	other.Env = append(os.Environ(), "UMBRA_TEST_ORPHAN_SOCK="+sock)
	stdin, err := other.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := other.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); other.Wait() }()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "listening\n" {
			t.Fatalf("the other process: %q", line)
		}
	case <-time.After(time.Minute):
		t.Fatal("the other process does not listen")
	}
	_, err = client().Status()
	if !errors.Is(err, ErrSocketGone) || !strings.Contains(err.Error(), fmt.Sprintf("replaced since by the socket of pid %d", other.Process.Pid)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("kill -HUP %d", os.Getpid())) {
		t.Errorf("another process's socket at the path: %v", err)
	}

	// The advice followed: that file removed, SIGHUP.
	os.Remove(sock)
	if made, err := s.Remake(); !made || err != nil {
		t.Fatalf("Remake: %v %v", made, err)
	}
	if n := len(unixListeners(sock)); n != 2 {
		t.Fatalf("%d listeners named %s in /proc/net/unix, want the daemon's and the other process's unlinked one", n, sock)
	}
	if _, err := client().Status(); err != nil {
		t.Fatalf("the daemon's socket made again: %v", err)
	}
	// The daemon drops the connection (its handler fails).
	_, err = client().Backup(filepath.Join(t.TempDir(), "b.db"))
	if err == nil || errors.Is(err, ErrSocketGone) || !strings.Contains(err.Error(), "closed the connection") ||
		!strings.Contains(err.Error(), "still running") {
		t.Errorf("the daemon's own socket at the path, the connection dropped: %v", err)
	}
	// The daemon does not answer within the client's bound.
	c := client()
	c.SetTimeout(time.Second)
	_, err = c.QueueAction("mx:example.net", "retry", "")
	if err == nil || errors.Is(err, ErrSocketGone) || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("the daemon's own socket at the path, no answer in time: %v", err)
	}
}
