package smtp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// writeLog is a client connection that records every write it makes.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(b))
	w.mu.Unlock()
	return w.Conn.Write(b)
}

// commandWrites are the writes that carry MAIL, RCPT or DATA commands.
func (w *writeLog) commandWrites() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.writes {
		if strings.HasPrefix(s, "MAIL FROM:") || strings.HasPrefix(s, "RCPT TO:") || s == "DATA\r\n" {
			out = append(out, s)
		}
	}
	return out
}

func logClient(t *testing.T, addr string) (*Client, *writeLog) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wl := &writeLog{Conn: nc}
	c, err := NewClient(context.Background(), wl, ClientOptions{LocalName: "client.test", TLS: TLSNone, CommandTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, wl
}

// Against umbra's own listener (PIPELINING advertised): MAIL, the three
// RCPTs and DATA leave in one write; the recipient the listener refuses
// (relay to an outside domain) has its own reply, the others are
// delivered, and the session stays in step for a second transaction.
func TestPipelineOneWriteWithRefusedRecipient(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	c, wl := logClient(t, s.Addrs()[0].String())
	if !c.CanPipeline() {
		t.Fatal("umbra's listener does not advertise PIPELINING")
	}
	body := []byte("Subject: p\r\n\r\n.leading dot\r\nbody\r\n")
	rcpts := []Recipient{{Addr: "a@example.test"}, {Addr: "x@elsewhere.org"}, {Addr: "b@example.test"}}
	p := c.Pipeline("s@example.org", &gosmtp.MailOptions{Size: int64(len(body))}, rcpts, [][]byte{body}, false)
	if p.Err != nil || p.Mail != nil || p.Data != nil {
		t.Fatalf("pipeline: err %v, mail %v, data %v", p.Err, p.Mail, p.Data)
	}
	if len(p.Rcpts) != 3 || p.Rcpts[0] != nil || p.Rcpts[2] != nil || !Permanent(p.Rcpts[1]) {
		t.Fatalf("recipient replies %v; want the outside one refused with a 5xx", p.Rcpts)
	}
	if len(p.Final) != 1 || p.Final[0].Err != nil {
		t.Fatalf("final replies %+v", p.Final)
	}
	w := wl.commandWrites()
	if len(w) != 1 || strings.Count(w[0], "RCPT TO:") != 3 || !strings.HasPrefix(w[0], "MAIL FROM:<s@example.org>") || !strings.HasSuffix(w[0], "DATA\r\n") {
		t.Fatalf("commands went out in %d writes: %q; want one", len(w), w)
	}
	if q.count() != 1 || len(q.msgs[0].Rcpts) != 2 || !bytes.HasSuffix(q.bodies[0], body) {
		t.Fatalf("queue got %d messages: %+v", q.count(), q.msgs)
	}
	// Every recipient refused: DATA is refused too, nothing is sent, and
	// RSET leaves the session usable.
	p = c.Pipeline("s@example.org", nil, []Recipient{{Addr: "x@elsewhere.org"}}, [][]byte{body}, false)
	if p.Err != nil || p.Data == nil || len(p.Rcpts) != 1 || p.Rcpts[0] == nil {
		t.Fatalf("all refused: err %v, data %v, rcpts %v", p.Err, p.Data, p.Rcpts)
	}
	if err := c.Rset(); err != nil {
		t.Fatalf("RSET after a refused group: %v", err)
	}
	p = c.Pipeline("s@example.org", nil, []Recipient{{Addr: "c@example.test"}}, [][]byte{body}, false)
	if p.Err != nil || len(p.Final) != 1 || p.Final[0].Err != nil || q.count() != 2 {
		t.Fatalf("third transaction: err %v, final %+v, queued %d", p.Err, p.Final, q.count())
	}
	// After go-smtp's own Reset it greets again first: that EHLO is a
	// real command, not part of the captured group.
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	p = c.Pipeline("s@example.org", nil, []Recipient{{Addr: "d@example.test"}}, [][]byte{body}, false)
	if p.Err != nil || len(p.Final) != 1 || p.Final[0].Err != nil || q.count() != 3 || !c.CanPipeline() {
		t.Fatalf("after go-smtp's Reset: err %v, final %+v, queued %d", p.Err, p.Final, q.count())
	}
}

// startSmtpSink runs Postfix's smtp-sink on a free loopback port with
// extra flags; it is stopped at the end of the test.
func startSmtpSink(t *testing.T, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		bin = "/usr/sbin/smtp-sink"
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("smtp-sink (postfix) is not installed")
			}
			t.Skip("smtp-sink (postfix) is not installed")
		}
	}
	addr := testsupport.FreeAddr(t, "127.0.0.1") // smtp-sink binds it
	args := append(flags, addr, "16")
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 200 {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("smtp-sink did not listen on %s: %s", addr, stderr.String())
	return ""
}

// Postfix's smtp-sink advertises PIPELINING: one write for the commands,
// the message accepted; with -p it does not, and every command then
// waits for the reply of the one before (one command per write).
func TestPipelineAgainstSmtpSink(t *testing.T) {
	body := []byte("Subject: sink\r\n\r\nhello\r\n")
	rcpts := []Recipient{{Addr: "a@example.net"}, {Addr: "b@example.net"}}

	c, wl := logClient(t, startSmtpSink(t))
	if !c.CanPipeline() {
		t.Fatal("smtp-sink does not advertise PIPELINING")
	}
	p := c.Pipeline("s@example.org", nil, rcpts, [][]byte{body}, false)
	if p.Err != nil || p.Mail != nil || p.Data != nil || len(p.Rcpts) != 2 || p.Rcpts[0] != nil || p.Rcpts[1] != nil ||
		len(p.Final) != 1 || p.Final[0].Err != nil {
		t.Fatalf("pipelined to smtp-sink: %+v", p)
	}
	if w := wl.commandWrites(); len(w) != 1 {
		t.Fatalf("commands in %d writes, want 1: %q", len(w), w)
	}

	c, wl = logClient(t, startSmtpSink(t, "-p"))
	if c.CanPipeline() {
		t.Fatal("smtp-sink -p advertises PIPELINING")
	}
	m := &queue.Message{From: "s@example.org", Rcpts: []queue.Recipient{{Addr: "a@example.net"}, {Addr: "b@example.net"}}}
	if err := c.Mail(m.From, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Rcpts {
		if err := c.Rcpt(r.Addr, nil); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := c.SendData(body, 1); err != nil || len(r) != 1 || r[0].Err != nil {
		t.Fatalf("lock-step DATA: %+v %v", r, err)
	}
	w := wl.commandWrites()
	if len(w) != 4 {
		t.Fatalf("lock-step: %d command writes %q, want 4 (MAIL, RCPT, RCPT, DATA)", len(w), w)
	}
	for _, s := range w {
		if strings.Count(s, "\r\n") != 1 {
			t.Fatalf("a write holds more than one command: %q", s)
		}
	}
}

// The shadow-on-receipt push is pipelined too (MAIL with XSHADOWCOPY=,
// the RCPTs, DATA in one write), and a copy a recipient of which the
// peer refuses is not sent at all: the peer keeps no partial copy.
func TestPushCopyPipelined(t *testing.T) {
	peerQ := &copyQueue{}
	peer := startShadowServer(t, peerQ, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	id := orgid.New()
	push := func(rcpts ...string) (error, *writeLog) {
		c, wl := logClient(t, peer.Addrs()[0].String())
		if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Shadow("hub2"); err != nil || c.ShadowVersion < 3 {
			t.Fatalf("Shadow: version %d, %v", c.ShadowVersion, err)
		}
		m := &queue.Message{From: "a@example.org", OrgID: id}
		for _, r := range rcpts {
			m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
		}
		return c.PushCopy(m, []byte("Received: from x\r\n by y; now\r\nSubject: c\r\n\r\nbody\r\n"), "dbA"), wl
	}
	err, wl := push("x@elsewhere.org", "y@elsewhere.org")
	if err != nil {
		t.Fatalf("PushCopy: %v", err)
	}
	w := wl.commandWrites()
	if len(w) != 1 || !strings.Contains(w[0], " XSHADOWCOPY=dbA\r\nRCPT TO:") || !strings.HasSuffix(w[0], "DATA\r\n") {
		t.Fatalf("push commands in %d writes: %q", len(w), w)
	}
	if len(peerQ.copies) != 1 || len(peerQ.copies[0].m.Rcpts) != 2 {
		t.Fatalf("copies kept: %d", len(peerQ.copies))
	}
	cp := peerQ.copies[0]
	if cp.m.OrgID != id || !bytes.HasSuffix(cp.body, []byte("Received: from x\r\n by y; now\r\nSubject: c\r\n\r\nbody\r\n")) {
		t.Fatalf("copy %q body %q: want org id %s and the body whole", cp.m.OrgID, cp.body, id)
	}
	// A refused recipient (an address the peer cannot take) refuses the copy.
	err, _ = push("x@elsewhere.org", "bad address@")
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("PushCopy with a refused recipient = %v; want its 5xx", err)
	}
	if len(peerQ.copies) != 1 {
		t.Fatalf("a partial copy was kept: %d copies", len(peerQ.copies))
	}
}

// stuffParts sends parts exactly as the joined message would be sent.
func TestStuffPartsMatchesWhole(t *testing.T) {
	bodies := [][][]byte{
		{[]byte("A: 1\r\n"), []byte("X: id\r\n"), []byte(".dot\r\nend")},
		{nil, []byte("X: id\r\n"), []byte("Subject: s\r\n\r\n.\r\n")},
		{[]byte("a\r\n"), []byte("b\r\n"), nil},
		{[]byte("no lf at end"), []byte("X: y\r\n"), []byte("z")}, // cannot cut: joined
	}
	for _, parts := range bodies {
		want := AppendDotStuffed(nil, bytes.Join(parts, nil))
		for _, chunk := range []int{1, 3, 64} {
			var got []byte
			if err := stuffParts(parts, chunk, func(b []byte) error { got = append(got, b...); return nil }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("parts %q chunk %d:\n got %q\nwant %q", parts, chunk, got, want)
			}
		}
	}
}

// Large DATA bodies (past the size at which the verb layer stops reusing
// its buffer) reach the queue byte for byte, dots unstuffed, after one
// Received field: also when the next large message on the same
// connection follows at once, and for a small one after them.
func TestLargeBodiesWhole(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 10485760}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	gen := func(n int, mark byte) []byte {
		var b bytes.Buffer
		b.WriteString("Subject: large\r\n\r\n")
		line := bytes.Repeat([]byte{mark}, 70)
		for i := 0; b.Len() < n; i++ {
			if i%7 == 0 {
				b.WriteString(".") // a line starting with a dot: stuffed on the wire
			}
			b.Write(line)
			b.WriteString("\r\n")
		}
		return b.Bytes()
	}
	bodies := [][]byte{gen(3<<20, 'a'), gen(2<<20, 'b'), gen(1000, 'c')}
	for _, body := range bodies {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.send(string(AppendDotStuffed(nil, body)))
		d.expect("250")
	}
	if q.count() != len(bodies) {
		t.Fatalf("queued %d of %d", q.count(), len(bodies))
	}
	for i, body := range bodies {
		got := q.bodies[i]
		if !bytes.HasPrefix(got, []byte("Received: ")) || !bytes.HasSuffix(got, body) {
			t.Fatalf("message %d: %d bytes, want a Received field then the %d bytes sent", i, len(got), len(body))
		}
		if n := len(got) - len(body); n > 2048 || bytes.Count(got[:n], []byte("Received:")) != 1 {
			t.Fatalf("message %d: trace of %d bytes %q", i, n, got[:min(n, 300)])
		}
	}
}
