package admin

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A killed daemon's sockets are not closed at once: the kernel closes
// its connections first and its listening socket a moment later, and in
// between a new connection lands in the listener's backlog although no
// one will accept it. The client's check "does it still run?" must not
// take that connection for a running daemon: the backup is reported as
// cut short by a daemon that stopped (exit 69 in the CLI), not as "still
// running, its log says why". (Before, 4 of 13 kill -9s during a backup
// were reported as still running.)
func TestBackupDaemonKilledListenerClosesLast(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gone := make(chan struct{})
	go func() {
		// The dying daemon: it took the backup request, its connection
		// is closed under the client, it accepts nothing more, and its
		// listener closes only once the client has connected again.
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			t.Error(err)
		}
		conn.Close()
		<-gone
		ln.Close()
	}()
	out := t.TempDir()
	c := NewClient(sock)
	probed := make(chan struct{})
	c.probed = func() { close(probed) }
	go func() {
		select {
		case <-probed: // the probe's connection is in the backlog
		case <-time.After(20 * time.Second):
		}
		close(gone)
	}()
	_, err = c.Backup(filepath.Join(out, "b.db"))
	t.Log(err)
	if !errors.Is(err, ErrStopped) || err == nil || strings.Contains(err.Error(), "still running") {
		t.Errorf("a daemon killed during the backup, its listener closed last: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("left behind: %v", ents[0].Name())
	}
}
