package smtp

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// SR-3, SMTP-8: README says each reply's write waits at most
// idle_timeout (at most a minute) for the client to read. The discard
// lists' replies (XQUERYDISCARD, taken/dropped notes: writeReply) still
// waited a full minute whatever idle_timeout is.
func TestSR3DiscardReplyWaitsAtMostIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.155:7560")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close() // never reads
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.(*net.TCPConn).SetWriteBuffer(4096)
	tc := &trackedConn{Conn: srv, release: func() {}}
	rc := &config.ReceiveConnector{}
	rc.Limits.IdleTimeout = config.Duration(time.Second)
	v := newVerbConn(tc, nil, rc, clock.Real{})
	lines := []string{"250-2.0.0 200000 discard notifications"}
	for i := 0; i < 200000; i++ {
		lines = append(lines, fmt.Sprintf("250-%032d", i))
	}
	lines = append(lines, "250 end")
	done := make(chan error, 1)
	go func() { done <- v.writeReply(lines...) }()
	// The bound told apart is idle_timeout (1s) from the fixed minute
	// the write used to wait: a bound on a hang, not a timing measure.
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an 8 MB reply to a client that never reads was written")
		}
	case <-time.After(30 * time.Second):
		srv.Close()
		<-done
		t.Errorf("a discard list's reply to a client that never reads still waited after 30s with idle_timeout 1s (README: at most idle_timeout)")
	}
}

// OPS-2: the README's metrics table says of
// umbra_smtp_connections_rejected_total that "the metric's help lists the
// same reasons" — every reason the help lists (RejectReasons) must be in
// the table.
func TestOPS2READMENamesEveryRejectReason(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `umbra_smtp_connections_rejected_total`") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("no README row for umbra_smtp_connections_rejected_total")
	}
	for _, r := range RejectReasons {
		if !strings.Contains(row, "`"+r+"`") {
			t.Errorf("README's umbra_smtp_connections_rejected_total row does not name reason %q, which the metric's help lists", r)
		}
	}
}
