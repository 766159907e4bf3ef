package admin

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: the admin socket of a running serve (socketOf: the answers
// that name a daemon say where to reach it) was looked for among the
// first 4096 listening Unix sockets of /proc/net/unix only: on a host
// with more, a daemon listed after them was named without its socket.
// The table here is the host's own lines after 5000 listening sockets of
// other processes (made up: their paths lead nowhere), so that the
// daemon's (this test's real listener) comes after the 4096th.
func TestOPS3SocketOfPastManyListeners(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	real, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Skip("no /proc/net/unix:", err)
	}
	header, rest, _ := strings.Cut(string(real), "\n")
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := range 5000 {
		// Num RefCount Protocol Flags Type St Inode Path; listening
		fmt.Fprintf(&b, "0000000000000000: 00000002 00000000 00010000 0001 01 %d /nonexistent/other%d.sock\n", 900000000+i, i)
	}
	b.WriteString(rest)
	table := filepath.Join(t.TempDir(), "unix")
	if err := os.WriteFile(table, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	saved := procNetUnix
	procNetUnix = table
	defer func() { procNetUnix = saved }()
	c := NewClient(filepath.Join(t.TempDir(), "other.sock"))
	if got := c.socketOf(os.Getpid()); got != sock {
		t.Errorf("socketOf(this process) = %q past 5000 other listeners, want %q", got, sock)
	}
}
