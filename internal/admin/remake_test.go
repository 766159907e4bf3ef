package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: the admin socket's file removed under the API (a cleanup of
// /run): a client says the daemon runs and its socket is gone
// (ErrSocketGone, not "not running"), and Remake — SIGHUP — makes it
// again at its path. Its own socket is left as it is; a file that is not
// a socket is left alone (an error); the stop removes its own socket
// only, never a file another process put at its path.
func TestRemakeSocketGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(path, &fakeQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	c := NewClient(path)
	if made, err := s.Remake(); made || err != nil {
		t.Fatalf("Remake of the socket in place: %v %v, want nothing done", made, err)
	}
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}

	os.Remove(path)
	if _, err := os.Stat("/proc/net/unix"); err == nil {
		_, err := NewClient(path).Status() // a command's client: no connection kept from before
		if !errors.Is(err, ErrSocketGone) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), "SIGHUP") {
			t.Errorf("status with the socket's file removed: %v, want ErrSocketGone naming %s and SIGHUP", err, path)
		}
	}
	if made, err := s.Remake(); !made || err != nil {
		t.Fatalf("Remake of the removed socket: %v %v", made, err)
	}
	if st, err := c.Status(); err != nil || st.Server != "mx.test" {
		t.Fatalf("status at the socket made again: %+v %v", st, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("the socket made again: %v %v, want mode 0660", fi, err)
	}

	// A file that is not a socket is left alone.
	os.Remove(path)
	os.WriteFile(path, []byte("x"), 0o600)
	if made, err := s.Remake(); made || err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Remake over a regular file: %v %v, want it left alone with an error", made, err)
	}
	s.Shutdown(context.Background())
	if b, err := os.ReadFile(path); err != nil || string(b) != "x" {
		t.Errorf("the stop removed a file that is not its socket: %q %v", b, err)
	}
}

// OPS-3: a connection cut during a request, the socket's file gone
// meanwhile while its listener still runs: the daemon runs (its socket
// gone), not "stopped" — a killed daemon's file would still be there.
func TestCutConnectionSocketGoneIsNotStopped(t *testing.T) {
	if _, err := os.Stat("/proc/net/unix"); err != nil {
		t.Skip("no /proc/net/unix")
	}
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Read(make([]byte, 512)) // the request
		os.Remove(path)           // the file removed under it
		c.Close()                 // and no answer
	}()
	_, err = NewClient(path).Status()
	if !errors.Is(err, ErrSocketGone) || errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "still running") {
		t.Errorf("a cut connection with the socket's file gone and its listener running: %v, want still running, its socket gone", err)
	}
}
