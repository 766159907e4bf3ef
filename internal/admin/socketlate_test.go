package admin

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// OPS-3: a command whose dial came a moment before a starting daemon
// made its admin socket must not be told the socket is gone: by the
// time it looks for a listener, the socket is there and answers (rt30e
// F4: "umbra runs, but its admin socket is gone … kill -HUP" of a daemon
// that became ready 10 ms later).
func TestOPS3SocketMadeAfterTheDialIsNotGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	c := NewClient(path)
	// The dial of the command: nothing there yet.
	if conn, err := net.Dial("unix", path); err == nil {
		conn.Close()
		t.Fatal("a socket answered before it was made")
	}
	// The daemon makes its socket.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	if err := c.socketGoneErr(os.Getpid(), "umbra serve"); err != nil {
		t.Fatalf("the socket made after the dial, answering: %v", err)
	}
}
