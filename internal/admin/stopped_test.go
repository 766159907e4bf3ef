package admin

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// blockingBackuper stands for a daemon in the middle of a backup: it
// announces the call (after sending the length and part of the copy
// when partial), then waits to be released.
type blockingBackuper struct {
	partial bool
	panics  bool
	started chan struct{}
	release chan struct{}
}

func (b blockingBackuper) Backup(w io.Writer, size func(int64)) (int64, error) {
	if b.panics {
		panic("backup handler failed")
	}
	var n int64
	if b.partial {
		size(1 << 20)
		k, _ := w.Write(make([]byte, 64<<10))
		n = int64(k)
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
	close(b.started)
	<-b.release
	return n, errors.New("stopped")
}

// blockingQueue is a queue whose retry waits to be released.
type blockingQueue struct {
	fakeQueue
	started chan struct{}
	release chan struct{}
}

func (q *blockingQueue) RetryQueue(ctx context.Context, n string) (int, error) {
	close(q.started)
	<-q.release
	return 0, nil
}

func listenTest(t *testing.T, q Queue) (*Server, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	return s, sock
}

// A daemon that stops during a backup (killed: its connections and its
// socket's listener close) is reported as stopped during the backup,
// not as "not running": it answered when the backup began. No file is
// left, before the copy began or in its middle. A daemon that drops the
// connection but still runs is reported as such.
func TestBackupDaemonStoppedDuringBackup(t *testing.T) {
	for _, partial := range []bool{false, true} {
		b := blockingBackuper{partial: partial, started: make(chan struct{}), release: make(chan struct{})}
		s, sock := listenTest(t, &fakeQueue{})
		s.SetDatabase(b)
		go func() {
			<-b.started
			s.http.Close() // what a kill does to the socket's connections
			close(b.release)
		}()
		out := t.TempDir()
		_, err := NewClient(sock).Backup(filepath.Join(out, "b.db"))
		t.Logf("partial=%v: %v", partial, err)
		if !errors.Is(err, ErrStopped) || errors.Is(err, ErrUnavailable) {
			t.Errorf("partial=%v: not reported as stopped during the backup: %v", partial, err)
		}
		if err == nil || !strings.Contains(err.Error(), "stopped during the backup") {
			t.Errorf("partial=%v: message %v", partial, err)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("partial=%v: left behind: %v", partial, ents[0].Name())
		}
	}
	// The handler failed, the daemon runs on.
	s, sock := listenTest(t, &fakeQueue{})
	defer s.Shutdown(context.Background())
	s.http.ErrorLog = log.New(io.Discard, "", 0) // the handler's panic
	s.SetDatabase(blockingBackuper{panics: true})
	_, err := NewClient(sock).Backup(filepath.Join(t.TempDir(), "b.db"))
	t.Log(err)
	if err == nil || errors.Is(err, ErrStopped) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "still running") {
		t.Errorf("a dropped connection of a running daemon: %v", err)
	}
	// Nothing listening: not running, as before.
	if _, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Backup(filepath.Join(t.TempDir(), "b.db")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no daemon: %v", err)
	}
}

// The same for any request: a daemon that stops while it carries out a
// command was running; whether the command took effect is unknown.
func TestRequestDaemonStoppedDuringCommand(t *testing.T) {
	q := &blockingQueue{started: make(chan struct{}), release: make(chan struct{})}
	s, sock := listenTest(t, q)
	go func() {
		<-q.started
		s.http.Close()
		close(q.release)
	}()
	done := make(chan error, 1)
	go func() { _, err := NewClient(sock).QueueAction("mx:example.net", "retry", ""); done <- err }()
	select {
	case err := <-done:
		t.Log(err)
		if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "unknown") {
			t.Errorf("not reported as stopped during the command: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the client did not return")
	}
}
