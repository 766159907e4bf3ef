package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// startServerClock is startServer on a given clock.
func startServerClock(t *testing.T, clk clock.Clock, q Queue, yaml string) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, yaml), Routing: testTable(), Queue: q, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// min_data_rate is the whole message's, over all its BDAT chunks: one
// byte every 10 s (each chunk arriving well within idle_timeout) is cut
// off once the transfer falls behind, while a transfer that keeps up
// the rate is taken whole.
func TestBDATTrickleCutOff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	q := &fakeQueue{}
	s := startServerClock(t, clk, q, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 20s, min_data_rate: 500}
`)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	cut := false
	for i := 0; i < 10 && !cut; i++ {
		d.send("BDAT 1\r\nA")
		got := d.reply()
		switch {
		case strings.HasPrefix(got, "250"):
		case strings.HasPrefix(got, "421 4.4.2"):
			cut = true
			if i < 2 {
				t.Fatalf("cut off after %d chunks, within the grace", i)
			}
		default:
			t.Fatalf("chunk %d: %q", i, got)
		}
		clk.Advance(10 * time.Second)
	}
	if !cut {
		t.Fatal("a 1 byte / 10 s BDAT trickle was never cut off")
	}

	// 10 KB chunks every 10 s (1000 B/s) are taken.
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 20\r\nSubject: r\r\n\r\nhi\r\n\r\n")
	d.expect("250")
	chunk := strings.Repeat(strings.Repeat("x", 98)+"\r\n", 100) // lines within max_line_length, as DATA's
	for i := 0; i < 6; i++ {
		clk.Advance(10 * time.Second)
		d.send("BDAT 10000\r\n" + chunk)
		d.expect("250")
	}
	d.send("BDAT 0 LAST\r\n")
	d.expect("250 2.0.0 Ok: queued")
	if q.count() != 1 {
		t.Fatalf("%d queued", q.count())
	}
}

// NOOP (and the other commands that move no mail) count against
// max_junk_commands inside a transaction too.
func TestJunkLimitInsideTransaction(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 10}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	for i := 0; ; i++ {
		d.send("NOOP\r\n")
		got := d.reply()
		if strings.HasPrefix(got, "421 4.7.0") {
			break
		}
		if !strings.HasPrefix(got, "250") || i > 20 {
			t.Fatalf("NOOP %d in a transaction: %q", i, got)
		}
	}
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on after the junk limit: %q", got)
	}
}

// A client that says STARTTLS and then never starts the handshake is
// held no longer than idle_timeout (1 s here), not the minute a handshake
// may otherwise take: the connection is closed well before the
// client's own 30 s limit.
func TestStalledTLSHandshakeBoundedByIdle(t *testing.T) {
	cert, key, _ := testCert(t)
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: tls
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 1s}
`, cert, key))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("STARTTLS", "220")
	d.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := d.r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a stalled TLS handshake held the connection past 30 s with idle_timeout 1s")
	}
	if err == nil {
		t.Fatal("the server wrote during a TLS handshake it never got")
	}
}

// A banner that says ESMTP is the greeting verbatim (it once read
// "ESMTP ESMTP Service Ready"); a bare name gets go-smtp's text.
func TestBannerNotDoubled(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: a
    bindings: ["127.0.0.1:0"]
    banner: "edge1.example.test ESMTP"
    permissions: {anonymous: [submit]}
  - name: b
    bindings: ["127.0.0.2:0"]
    banner: name.example.test
    permissions: {anonymous: [submit]}
`)...)
	for i, want := range []string{"220 edge1.example.test ESMTP", "220 name.example.test ESMTP Service Ready"} {
		c, err := net.Dial("tcp", s.Addrs()[i].String())
		if err != nil {
			t.Fatal(err)
		}
		d := &dialog{t: t, conn: c, r: bufio.NewReader(c)}
		if got := d.reply(); got != want {
			t.Errorf("greeting %q, want %q", got, want)
		}
		c.Close()
	}
}

// A declared SIZE over max_message_size gets 552 5.3.4 (RFC 1870),
// however many digits it has; a malformed SIZE is still 501.
func TestMailSizeOverLimit(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 1MiB}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SIZE=99999999999", "552 5.3.4")
	d.cmd("MAIL FROM:<a@example.org> SIZE=999999999999999999999999", "552 5.3.4")
	d.cmd("MAIL FROM:<a@example.org> SIZE=2000000", "552 5.3.4")
	d.cmd("MAIL FROM:<a@example.org> SIZE=12x", "501 5.5.4")
	d.cmd("MAIL FROM:<a@example.org> SIZE=1000", "250")
}

// A Delivered-To naming any recipient of the transaction is a loop: the
// whole message is refused at DATA (554 5.4.6) and nothing is queued, so
// no DSN can go to a forged sender; one naming none of them is kept.
func TestDeliveredToLoopRefusedAtData(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<forged@victim.test>", "250")
	d.cmd("RCPT TO:<alice@example.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Delivered-To: Alice@Example.TEST\r\nSubject: loop\r\n\r\nhi\r\n.", "554 5.4.6")
	d.cmd("MAIL FROM:<forged@victim.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	msg := "Delivered-To: <bob@example.test>\r\nSubject: l\r\n\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
	d.expect("554 5.4.6")
	if q.count() != 0 {
		t.Fatalf("%d queued", q.count())
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Delivered-To: alice@example.test\r\nSubject: fwd\r\n\r\nhi\r\n.", "250")
	if q.count() != 1 {
		t.Fatalf("%d queued", q.count())
	}
}

// An empty message (BDAT 0 LAST, DATA ended at once, blank lines only)
// is refused with 554 5.6.0 and never queued.
func TestEmptyMessageRefused(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("BDAT 0 LAST", "554 5.6.0")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd(".", "554 5.6.0")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("\r\n\r\n.", "554 5.6.0")
	if q.count() != 0 {
		t.Fatalf("%d queued", q.count())
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("no header, but text\r\n.", "250")
}

// A transaction's command phase is bounded by max_transaction_time on the
// server's clock: RCPTs and NOOPs each within idle_timeout cannot hold a
// session past it; a completed message starts afresh.
func TestMaxTransactionTime(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	q := &fakeQueue{}
	s := startServerClock(t, clk, q, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_transaction_time: 10m, max_recipients: 100}
`)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	clk.Advance(9 * time.Minute)
	d.cmd("RCPT TO:<c@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: t\r\n\r\nhi\r\n.", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	for i := 0; i < 11; i++ {
		clk.Advance(time.Minute)
		got := d.cmd("RCPT TO:<b@example.test>", "")
		if strings.HasPrefix(got, "421 4.4.2") {
			if i < 9 {
				t.Fatalf("cut off after %d minutes", i+1)
			}
			if got := d.reply(); !strings.HasPrefix(got, "EOF") {
				t.Fatalf("session goes on: %q", got)
			}
			return
		}
	}
	t.Fatal("a transaction held past max_transaction_time")
}
