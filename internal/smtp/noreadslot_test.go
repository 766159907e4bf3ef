package smtp

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SMTP-8, RT-36 (front F1): a client that pipelines a lot and never
// reads its replies. umbra's reply writes block, its write times out
// after idle_timeout, and the session ends — logged as what happened
// (reason "write timeout": the client did not read its replies), never
// as "data rate" to a client that sent everything at once. The
// connection's slot (max_connections_per_source) is free when the
// session ends, whatever its close still waits for: a new connection
// from the same address is taken while the first client, still neither
// reading nor closing, holds its socket open; and nothing the layer had
// read ahead runs after the write timed out (no message is taken whose
// 250 cannot reach the client).
func TestSessionOfAClientThatNeverReadsFreesItsSlot(t *testing.T) {
	logs := &syncBuffer{}
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: connectors(t, `
  - name: front
    bindings: ["127.0.0.180:10001"]
    permissions: {anonymous: [submit]}
    limits: {max_connections_per_source: 1, idle_timeout: 1s, max_recipients: 2000}
`)})
	c := dialNonReading(t, s, "127.0.0.181")
	var round bytes.Buffer
	round.WriteString("MAIL FROM:<a@ext.test>\r\n")
	for i := 0; i < 1049; i++ {
		round.WriteString("RCPT TO:<bob@example.test>\r\n")
	}
	round.WriteString("DATA\r\nSubject: NR\r\n\r\nnoread\r\n.\r\n")
	stream := append([]byte("EHLO n.test\r\n"), bytes.Repeat(round.Bytes(), 80)...)
	go func() {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		c.Write(stream) // never reads; the server stops reading in time
	}()

	// The session ends (its writes time out after idle_timeout); the
	// slot must be free by then, long before the client reads or closes.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l := logs.lines("session ended"); len(l) > 0 {
			break
		}
		if n := logs.lines("disconnect"); len(n) > 0 {
			t.Fatalf("the connection closed without its session's end logged: %q", n)
		}
		if time.Now().After(deadline) {
			t.Fatal("the session of a client that never reads did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	taken := q.count()
	var got string
	for time.Now().Before(deadline) {
		next, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.0.181")}, s.Addrs()[0].(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		next.SetDeadline(time.Now().Add(5 * time.Second))
		got, _ = bufio.NewReader(next).ReadString('\n')
		next.Close()
		if strings.HasPrefix(got, "220") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(got, "220") {
		t.Errorf("a new connection from the address after its session ended got %q while the old client holds its socket, want 220", got)
	}
	if n := q.count(); n != taken {
		t.Errorf("%d messages taken after the session ended (a write timed out), want none: their replies cannot reach the client", n-taken)
	}
	l := logs.lines("session ended")
	if len(l) != 1 || !strings.Contains(l[0], `reason="write timeout"`) {
		t.Errorf("session end logged as %q, want reason=\"write timeout\"", l)
	}
}

// dialNonReading connects to s from the address from with a small
// receive buffer (a client that will not read: its replies fill the
// server's socket soon); closed when the test ends.
func dialNonReading(t *testing.T, s *Server, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)},
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
			})
		}}
	c, err := d.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
