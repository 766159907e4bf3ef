package smtp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// v5Peer is a shadow server that offers version 5 (its queue keeps
// copies, its shadow side answers XQUERYHELD).
func v5Peer(t *testing.T) (*Server, *copyQueue) {
	q := &copyQueue{}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	return startShadowServer(t, q, sh, true, transportConnector(t, "")), q
}

func shadowLogClient(t *testing.T, s *Server) (*Client, *writeLog) {
	t.Helper()
	c, wl := logClient(t, s.Addrs()[0].String())
	t.Cleanup(func() { c.Close() })
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	return c, wl
}

// pushWrites are the writes of a push: from the one carrying MAIL on.
func (w *writeLog) pushWrites() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, s := range w.writes {
		if strings.HasPrefix(s, "MAIL FROM:") {
			return append([]string(nil), w.writes[i:]...)
		}
	}
	return nil
}

// Version 5 (SR-17): to a peer that offers it, a copy on receipt is one
// write — MAIL with XSHADOWCOPY=, the RCPTs, BDAT <n> LAST and the body —
// and one read of the replies; the peer keeps exactly the bytes the DATA
// form keeps. A refused recipient refuses the whole copy (the body went
// before its reply was seen), and the session takes the next copy.
func TestPushCopyOneTrip(t *testing.T) {
	peer, q := v5Peer(t)
	c, wl := shadowLogClient(t, peer)
	if c.ShadowVersion != 5 {
		t.Fatalf("client speaks version %d with a version-5 peer", c.ShadowVersion)
	}
	body := []byte("Received: from x\r\n by y; now\r\nSubject: c\r\n\r\n.body\r\n")
	msg := func(rcpts ...string) *queue.Message {
		m := &queue.Message{From: "a@example.org", OrgID: orgid.New()}
		for _, r := range rcpts {
			m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
		}
		return m
	}
	m := msg("x@elsewhere.org", "y@elsewhere.org")
	if err := c.PushCopy(m, body, "dbA"); err != nil {
		t.Fatalf("PushCopy: %v", err)
	}
	w := wl.pushWrites()
	want := fmt.Sprintf(" XSHADOWCOPY=dbA\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<y@elsewhere.org>\r\nBDAT %d LAST\r\n", len(body)+len(orgid.Line(m.OrgID)))
	if len(w) != 1 || !strings.Contains(w[0], want) || !strings.HasSuffix(w[0], "\r\n.body\r\n") {
		t.Fatalf("push in %d writes: %q", len(w), w)
	}
	if len(q.copies) != 1 || len(q.copies[0].m.Rcpts) != 2 || q.copies[0].m.OrgID != m.OrgID || !bytes.HasSuffix(q.copies[0].body, body[len("Received: from x\r\n by y; now\r\n"):]) {
		t.Fatalf("copies %d; want one, whole, with both recipients", len(q.copies))
	}
	kept := q.copies[0].body

	// The DATA form of the same copy keeps the same bytes.
	c.ShadowVersion = 4
	m2 := msg("x@elsewhere.org", "y@elsewhere.org")
	m2.OrgID = m.OrgID
	if err := c.PushCopy(m2, body, "dbA"); err != nil {
		t.Fatalf("PushCopy by DATA: %v", err)
	}
	if len(q.copies) != 2 || !bytes.Equal(stripTrace(q.copies[1].body), stripTrace(kept)) {
		t.Fatalf("DATA kept %q, BDAT %q", q.copies[len(q.copies)-1].body, kept)
	}
	c.ShadowVersion = 5

	// A refused recipient: no copy at all, the first refusal is the reason.
	err := c.PushCopy(msg("x@elsewhere.org", "bad address@"), body, "dbA")
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 5 || strings.Contains(se.Message, "refused whole") {
		t.Fatalf("PushCopy with a refused recipient = %v; want the recipient's 5xx", err)
	}
	if len(q.copies) != 2 {
		t.Fatalf("a partial copy was kept: %d copies", len(q.copies))
	}
	// Every recipient refused: the transaction the MAIL opened is reset.
	if err := c.PushCopy(msg("bad address@"), body, "dbA"); !errors.As(err, &se) {
		t.Fatalf("PushCopy with no recipient taken = %v", err)
	}
	if err := c.PushCopy(msg("z@elsewhere.org"), body, "dbA"); err != nil || len(q.copies) != 3 {
		t.Fatalf("the next copy on the session: %v, %d copies", err, len(q.copies))
	}
	// A body DATA would change (no CRLF at its end) goes by DATA.
	wl.mu.Lock()
	wl.writes = nil
	wl.mu.Unlock()
	if err := c.PushCopy(msg("z@elsewhere.org"), []byte("Subject: c\r\n\r\nno end"), "dbA"); err != nil {
		t.Fatal(err)
	}
	if w := wl.commandWrites(); len(w) != 1 || !strings.HasSuffix(w[0], "DATA\r\n") {
		t.Fatalf("a body without its last CRLF: %q", w)
	}
}

// stripTrace drops the peer's own Received field (its first line and
// the continuation lines after it).
func stripTrace(b []byte) []byte {
	i := bytes.Index(b, []byte("\r\n"))
	for i >= 0 && i+2 < len(b) && (b[i+2] == ' ' || b[i+2] == '\t') {
		j := bytes.Index(b[i+2:], []byte("\r\n"))
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return b[i+2:]
}

// A peer below version 5 (a previous release) gets the DATA form: the
// primary waits for the 354 and abandons a copy with a refused
// recipient there, as before.
func TestPushCopyOldPeerGetsData(t *testing.T) {
	q := &copyQueue{}
	peer := startShadowServer(t, q, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	c, wl := shadowLogClient(t, peer)
	if c.ShadowVersion != 3 {
		t.Fatalf("version %d", c.ShadowVersion)
	}
	m := &queue.Message{From: "a@example.org", OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}
	if err := c.PushCopy(m, []byte("Subject: c\r\n\r\nbody\r\n"), "dbA"); err != nil {
		t.Fatal(err)
	}
	for _, w := range wl.pushWrites() {
		if strings.Contains(w, "BDAT") {
			t.Fatalf("BDAT sent to a version-3 peer: %q", w)
		}
	}
	if w := wl.commandWrites(); len(w) != 1 || !strings.HasSuffix(w[0], "DATA\r\n") || len(q.copies) != 1 {
		t.Fatalf("commands %q, copies %d", w, len(q.copies))
	}
}

// The peer's rule (version 5): a copy whose transaction had a command
// refused is refused whole at its end, by BDAT and by DATA alike; an
// ordinary message is not touched by it.
func TestShadowCopyAllOrNothing(t *testing.T) {
	peer, q := v5Peer(t)
	d := dial(t, peer, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	id := orgid.New()
	body := orgid.Header + ": " + id + "\r\nSubject: copy\r\n\r\nhello\r\n"
	d.send(fmt.Sprintf("MAIL FROM:<a@example.org> XSHADOWCOPY=db1\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<bad address@>\r\nBDAT %d LAST\r\n%s", len(body), body))
	for _, want := range []string{"250", "250", "5", "554 5.5.1"} {
		d.expect(want)
	}
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d.cmd("RCPT TO:<bad address@>", "5")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd(strings.TrimSuffix(body, "\r\n")+"\r\n.", "554 5.5.1")
	if len(q.copies) != 0 {
		t.Fatalf("%d partial copies kept", len(q.copies))
	}
	// The refusal belongs to its transaction: the next copy is kept.
	d.send(fmt.Sprintf("MAIL FROM:<a@example.org> XSHADOWCOPY=db1\r\nRCPT TO:<x@elsewhere.org>\r\nBDAT %d LAST\r\n%s", len(body), body))
	for _, want := range []string{"250", "250", "250 2.0.0 Shadow copy kept"} {
		d.expect(want)
	}
	// An ordinary message with a refused recipient is delivered to the rest.
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=m-1", "250")
	d.cmd("RCPT TO:<bad address@>", "5")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: relayed\r\n\r\nhello\r\n.", "250")
	if len(q.copies) != 1 || q.count() != 1 {
		t.Fatalf("copies %d, submitted %d", len(q.copies), q.count())
	}
}

// FuzzOneTripLen: a copy oneTripLen lets go by BDAT is byte for byte
// what the peer keeps of the same copy sent by DATA (dot-stuffed, then
// unstuffed), and its length is the parts' length.
func FuzzOneTripLen(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "A: 1\r\n\r\n.x\r\n", "a\r\nb", "a\nb\r\n", "a\rb\r\n", "\r\n", ".\r\n..\r\n", "x\r\n\r"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		// Parts as orgid.PartsRecord makes them: cut after a line feed.
		var parts [][]byte
		if i := bytes.IndexByte(b[min(int(cut), len(b)):], '\n'); i >= 0 {
			at := min(int(cut), len(b)) + i + 1
			parts = [][]byte{b[:at], b[at:]}
		} else {
			parts = [][]byte{b}
		}
		n, ok := oneTripLen(parts)
		if !ok {
			return
		}
		if n != len(b) {
			t.Fatalf("%q: length %d, want %d", b, n, len(b))
		}
		var stuffed []byte
		if err := stuffParts(parts, 16, func(p []byte) error { stuffed = append(stuffed, p...); return nil }); err != nil {
			t.Fatal(err)
		}
		if got := unstuffRef(stuffed); !bytes.Equal(got, b) {
			t.Fatalf("%q goes by BDAT, but DATA delivers %q", b, got)
		}
	})
}

// unstuffRef is RFC 5321 §4.5.2 on a DATA payload ending in CRLF.CRLF.
func unstuffRef(p []byte) []byte {
	p = bytes.TrimSuffix(p, []byte(".\r\n"))
	var out []byte
	for _, l := range bytes.SplitAfter(p, []byte("\r\n")) {
		out = append(out, bytes.TrimPrefix(l, []byte("."))...)
	}
	return out
}
