package smtp

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// readAll reads what the server sends until it closes (or the deadline):
// the replies a client gets, and the error the stream ended with (nil for
// an orderly end, a reset otherwise).
func readAll(t *testing.T, c net.Conn) (string, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			return got.String(), nil
		}
		if err != nil {
			return got.String(), err
		}
	}
}

// pipelineAndRead sends head, then body in one write from another
// goroutine (it may block: the server stops reading), and returns every
// reply the client got.
func pipelineAndRead(t *testing.T, s *Server, head, body string) (string, error) {
	t.Helper()
	d := dial(t, s, "")
	d.expect("220")
	for _, l := range strings.Split(strings.TrimSuffix(head, "\r\n"), "\r\n") {
		if l != "" {
			d.cmd(l, "250")
		}
	}
	go func() {
		d.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		d.conn.Write([]byte(body))
	}()
	return readAll(t, d.conn)
}

// A session the server ends while pipelined input is still unread gets
// every reply up to and including the 421, then an orderly end of the
// stream — not a reset that makes the client's stack throw the replies
// away (a client could not tell a limit's refusal from a crash). Each
// way the server ends a session with input pending: the error limit, the
// junk command limit, a line too long.
func TestLastReplyReachesPipeliningClient(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 20, soft_error_limit: 5, error_delay: 10ms, max_junk_commands: 30}
`)})
	many := func(line string, n int) string { return strings.Repeat(line+"\r\n", n) }
	for _, tc := range []struct {
		name, head, body, last string
		want                   int // replies before the last
		wantCode               string
	}{
		{"error limit", "EHLO c\r\nMAIL FROM:<a@example.org>\r\n", many("RCPT TO:<nobody@elsewhere.example>", 5000),
			"421 4.7.0 Too many errors", 20, "550"},
		{"error limit just past", "EHLO c\r\nMAIL FROM:<a@example.org>\r\n", many("RCPT TO:<nobody@elsewhere.example>", 21),
			"421 4.7.0 Too many errors", 20, "550"},
		{"junk limit", "EHLO c\r\n", many("NOOP", 5000), "421 4.7.0 Too many commands", 29, "250"},
		{"line too long", "EHLO c\r\n", "NOOP\r\nNOOP\r\n" + strings.Repeat("x", 3000) + "\r\n" + many("NOOP", 5000),
			"421 4.7.0 Line too long", 2, "250"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pipelineAndRead(t, s, tc.head, tc.body)
			if err != nil {
				t.Fatalf("the stream ended with %v after %d bytes: the replies were lost", err, len(got))
			}
			lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, tc.last) {
				t.Fatalf("last reply %q, want %q (%d lines)", last, tc.last, len(lines))
			}
			n := 0
			for _, l := range lines[:len(lines)-1] {
				if strings.HasPrefix(l, tc.wantCode) {
					n++
				}
			}
			if n != tc.want {
				t.Fatalf("%d replies %s before the 421, want %d: %q", n, tc.wantCode, tc.want, got)
			}
		})
	}
}

// A client past the soft error limit waits error_delay before its next
// command is read — with every reply so far in hand: the 250s and
// errors held back for the pipelined commands go out before the wait,
// not after it (nor never, when the wait ends in the error limit).
func TestErrorDelayWaitsWithRepliesSent(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 20, soft_error_limit: 2, error_delay: 1m}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("MAIL FROM:<a@example.org>\r\n" + strings.Repeat("RCPT TO:<nobody@elsewhere.example>\r\n", 5))
	// The session now waits a minute of a clock that does not move.
	d.expect("250")
	for i := 0; i < 3; i++ {
		d.expect("550")
	}
	for end := time.Now().Add(10 * time.Second); clk.Pending() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no error delay is waiting")
		}
	}
	d.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("a reply came during the error delay: %q", got)
	}
}

// A shutdown closes a session between commands with 421 4.3.2 as its
// last reply, and the client gets it even while its pipelined commands
// are still arriving: no reply follows the 421, and the stream ends in
// order, not with a reset.
func TestShutdownReplyReachesPipeliningClient(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 1000000}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	go func() {
		d.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		d.conn.Write([]byte(strings.Repeat("NOOP\r\n", 100000)))
	}()
	d.expect("250") // the session is answering the pipelined commands
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	go s.Shutdown(ctx)
	got, err := readAll(t, d.conn)
	if err != nil {
		t.Fatalf("the stream ended with %v after %d bytes", err, len(got))
	}
	if !strings.HasSuffix("\r\n"+got, "\r\n421 4.3.2 Service shutting down, try again later\r\n") {
		t.Fatalf("the last reply is not the shutdown's 421: %q", got[max(0, len(got)-200):])
	}
}

// A connection refused at once (over a connection limit) gets its 421
// even when the client talks first: its early commands are drained,
// not answered with a reset.
func TestRefusalReachesEagerClient(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_connections_per_source: 1}
`)})
	first := dial(t, s, "")
	first.expect("220")
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte(strings.Repeat("EHLO eager.example\r\n", 5000)))
	}()
	got, err := readAll(t, c)
	if err != nil {
		t.Fatalf("the stream ended with %v after %q", err, got)
	}
	if got != "421 4.3.2 Too many connections, try again later\r\n" {
		t.Fatalf("got %q", got)
	}
}

// A BDAT transfer kept open with empty chunks is never idle: its client
// sends a command well within idle_timeout each time. When the
// transfer's min_data_rate deadline passes, the session ends with "Data
// rate too low" — the limit that cut it — not "Idle timeout".
func TestEmptyChunksCutByDataRate(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 2s, max_junk_commands: 1000000}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 20\r\nSubject: r\r\n\r\nhi\r\n\r\n")
	d.expect("250")
	for i := 0; i < 200; i++ { // 20 s at most
		d.send("BDAT 0\r\n")
		got := d.reply()
		if strings.HasPrefix(got, "250") {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if !strings.HasPrefix(got, "421 4.4.2 Data rate too low") {
			t.Fatalf("a transfer sending a command every 0.1 s ended with %q", got)
		}
		return
	}
	t.Fatal("empty chunks held the transfer open past its deadline")
}
