package admin

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// A daemon killed once the backup's request reached it, before the copy
// began, after the same client asked it something first (the CLI asks
// which file the daemon runs): the transport sends a GET that got no
// answer on a kept-alive connection again, on a new one, whose dial
// finds nothing listening. That is still the daemon stopped during the
// backup, not "umbra is not running" (lifert38-F2). The same for any
// request that reached the daemon (a list of the dumpster, a message's
// export).
func TestBackupDaemonStoppedAfterAnEarlierRequestIsStoppedNotNotRunning(t *testing.T) {
	b := blockingBackuper{started: make(chan struct{}), release: make(chan struct{})}
	s, sock := listenTest(t, &fakeQueue{})
	s.SetDatabase(b)
	go func() {
		<-b.started
		s.http.Close() // what a kill does to the socket's connections
		close(b.release)
	}()
	c := NewClient(sock)
	if err := c.do("GET", "/v1/status", nil, &Status{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	_, err := c.Backup(filepath.Join(out, "b.db"))
	t.Log(err)
	if !errors.Is(err, ErrStopped) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "stopped during the backup") {
		t.Errorf("a daemon killed during the backup, its connection kept alive: %v; want stopped during the backup", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("left behind: %v", ents[0].Name())
	}
}

// The same for a GET of c.do: a daemon that stopped while it answered a
// read that reached it stopped during that command.
func TestRequestDaemonStoppedAfterAnEarlierRequestIsStoppedNotNotRunning(t *testing.T) {
	q := &blockingQueues{started: make(chan struct{}), release: make(chan struct{})}
	s, sock := listenTest(t, q)
	go func() {
		<-q.started
		s.http.Close()
		close(q.release)
	}()
	c := NewClient(sock)
	if err := c.do("GET", "/v1/status", nil, &Status{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Queues()
	t.Log(err)
	if !errors.Is(err, ErrStopped) || errors.Is(err, ErrUnavailable) {
		t.Errorf("not reported as stopped during the command: %v", err)
	}
}

// blockingQueues is a queue whose list of queues waits to be released.
type blockingQueues struct {
	fakeQueue
	started chan struct{}
	release chan struct{}
}

func (q *blockingQueues) Queues() ([]queue.QueueInfo, error) {
	close(q.started)
	<-q.release
	return nil, nil
}

// A command run in batches whose daemon is killed after a batch was
// answered: the next batch's dial finds nothing listening, and the
// command was cut by the daemon's stop, not refused by a daemon that
// was not running (lifert38-F2's sibling): the first batch reached it.
func TestBatchesDaemonStoppedAfterABatchIsStoppedNotNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // a killed daemon leaves its socket file
	srv := &http.Server{Handler: marked(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := BulkResult{Action: "suspend", Matched: 1, Done: []string{queue.ID(1).String()}}
		out.Next, out.Through, out.Selection = queue.ID(1).String(), queue.ID(2).String(), "sel"
		json.NewEncoder(w).Encode(out)
	}))}
	go srv.Serve(ln)
	defer srv.Close()
	c := NewClient(sock)
	batches := 0
	_, err = c.BulkActionProgress("suspend", queue.MessageFilter{}, true, false, false, false, func(BulkResult) {
		if batches++; batches == 1 {
			srv.Close() // what a kill does: its listener and connections closed
			// The closed connection seen as such before the next batch:
			// that batch dials afresh, and nothing of it is written.
			c.http.CloseIdleConnections()
		}
	})
	t.Log(err)
	if batches != 1 || !errors.Is(err, ErrStopped) || errors.Is(err, ErrUnavailable) {
		t.Errorf("after %d batches: %v; want stopped during the command", batches, err)
	}
}
