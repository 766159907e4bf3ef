package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// copyQueue is a fakeQueue that also keeps shadow copies on receipt.
type copyQueue struct {
	fakeQueue
	copies []copyKept
}

type copyKept struct {
	m                   *queue.Message
	body                []byte
	spool               string // the spool file the copy was handed, "" in memory
	primary, addr, dbID string
}

func (q *copyQueue) SubmitShadowCopyBody(ctx context.Context, m *queue.Message, body queue.Body, primary, addr, dbID string) (bool, error) {
	b, err := body.Bytes()
	if err != nil {
		return false, err
	}
	path, _, _ := body.File()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.copies = append(q.copies, copyKept{m, bytes.Clone(b), path, primary, addr, dbID})
	return true, nil
}

// spoolCopyQueue is a copyQueue that takes spooled bodies, so that its
// server spools (NewServer): the copies it keeps name their spool files.
type spoolCopyQueue struct{ copyQueue }

func (q *spoolCopyQueue) SubmitBody(ctx context.Context, m *queue.Message, body queue.Body) error {
	b, err := body.Bytes()
	if err != nil {
		return err
	}
	return q.Submit(ctx, m, bytes.Clone(b))
}

// Version 3 (SR-17): a server whose queue keeps copies on receipt offers
// "XSHADOW 3"; MAIL XSHADOWCOPY= works only in a shadow session, not
// with XSHADOW=, with a well-formed id; the copy is kept (not
// submitted) for the session's server, named by its org id.
func TestShadowCopyVerbReplies(t *testing.T) {
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	q := &copyQueue{}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 3") {
		t.Fatalf("XSHADOW 3 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "503 5.5.1") // no shadow session yet
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=bad/db", "501 5.5.4")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=", "501 5.5.4")
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=x-1 XSHADOWCOPY=db1", "501 5.5.4")
	// Without an org id a copy cannot be named.
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: no id\r\n\r\nhello\r\n.", "554 5.6.0")
	id := orgid.New()
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1 SIZE=100", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd(orgid.Header+": "+id+"\r\nSubject: copy\r\n\r\nhello\r\n.", "250 2.0.0 Shadow copy kept")
	if q.count() != 0 || len(q.copies) != 1 {
		t.Fatalf("submitted %d, copies %d; want the copy kept, nothing submitted", q.count(), len(q.copies))
	}
	c := q.copies[0]
	if c.primary != "hub2" || c.dbID != "db1" || c.m.OrgID != id {
		t.Fatalf("copy kept for %q (db %q) as %q; want hub2, db1, %s", c.primary, c.dbID, c.m.OrgID, id)
	}
	// The next transaction is an ordinary one.
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=m-1", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: relayed\r\n\r\nhello\r\n.", "250")
	if q.count() != 1 || len(q.copies) != 1 {
		t.Fatalf("submitted %d, copies %d after a relayed message", q.count(), len(q.copies))
	}
}

// A server without copies (version 2) refuses the parameter, and a
// client speaks the lower version: PushCopy is never sent to it.
func TestShadowCopyNegotiatedDown(t *testing.T) {
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 2") {
		t.Fatalf("want XSHADOW 2:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "503 5.5.1")

	nc, err := dialTCP(s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Auth(saslPlain("hub2", "hubpass"))
	if _, err := c.Shadow("hub2"); err != nil || c.ShadowVersion != 2 {
		t.Fatalf("Shadow: version %d, %v", c.ShadowVersion, err)
	}
	m := &queue.Message{From: "a@example.org", OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}
	if err := c.PushCopy(m, []byte("Subject: x\r\n\r\nx\r\n"), "db1"); err != ErrNoCopies {
		t.Fatalf("PushCopy to a version-2 server = %v; want ErrNoCopies", err)
	}
}

// fakeReceipt is a ReceiptShadow whose links push to a real server (a
// version-3 peer) or fail.
type fakeReceipt struct {
	peer     *Server
	fail     bool  // Open finds no server
	pushFail bool  // the transfer breaks
	openErr  error // Open's error, when set
	opened   int
}

type fakeLink struct {
	f *fakeReceipt
	c *Client
}

func (f *fakeReceipt) Open(ctx context.Context, pref string) (ReceiptLink, error) {
	f.opened++
	if f.openErr != nil {
		return nil, f.openErr
	}
	if f.fail {
		return nil, context.DeadlineExceeded
	}
	nc, err := dialTCP(f.peer)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(ctx, nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone})
	if err != nil {
		return nil, err
	}
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		return nil, err
	}
	if _, err := c.Shadow("hub2"); err != nil {
		return nil, err
	}
	return &fakeLink{f, c}, nil
}

func (l *fakeLink) Server() string { return "hub-b" }
func (l *fakeLink) Push(ctx context.Context, m *queue.Message, b queue.Body) error {
	if l.f.pushFail {
		return context.Canceled
	}
	return l.c.PushCopyBody(m, b, "dbA")
}
func (l *fakeLink) Done(bool) { l.c.Close() }

func receiptServer(t *testing.T, q Queue, extra string, r ReceiptShadow) *Server {
	t.Helper()
	return receiptServerSpool(t, q, extra, r, nil)
}

// receiptServerSpool is receiptServer spooling bodies past 1 KiB to st.
func receiptServerSpool(t *testing.T, q Queue, extra string, r ReceiptShadow, st *queue.Store) *Server {
	t.Helper()
	return receiptServerOn(t, q, transportConnector(t, "    max_acknowledgement_delay: 30s\n"+extra), r, st)
}

// receiptServerOn is receiptServerSpool with the connectors given, and
// its log to log (nil: the default).
func receiptServerOn(t *testing.T, q Queue, conns []config.ReceiveConnector, r ReceiptShadow, st *queue.Store, log ...*slog.Logger) *Server {
	t.Helper()
	var spool func() (*queue.SpoolFile, error)
	if st != nil {
		spool = st.NewSpool
	}
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	var logger *slog.Logger
	if len(log) > 0 {
		logger = log[0]
	}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Log: logger,
		Routing: testTable(), Queue: q, Shadow: sh, ShadowEnabled: true, Clock: clk, Spool: spool, SpoolThreshold: 1024})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReceiptShadow(r)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s
}

// The receiving end of SR-17: the local commit names the shadow server
// and the copy's id (the org id), the copy reaches the peer with that org
// id, and the 250 says so. Delayed acknowledgement (configured, 30 s on a
// fake clock that never moves) does not apply: the reply comes without
// the clock moving.
func TestShadowOnReceiptCommitsThenCopies(t *testing.T) {
	peerQ := &copyQueue{}
	peer := startShadowServer(t, peerQ, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	q := &blockingGoneQueue{}
	s := receiptServer(t, q, "    shadow_on_receipt: local-only\n", &fakeReceipt{peer: peer})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
	if !strings.Contains(got, "shadow copy on hub-b") {
		t.Fatalf("reply %q", got)
	}
	if q.count() != 1 || len(peerQ.copies) != 1 {
		t.Fatalf("local %d, copies %d", q.count(), len(peerQ.copies))
	}
	m, c := q.msgs[0], peerQ.copies[0]
	if m.ShadowServer != "hub-b" || m.ShadowID != m.OrgID || !orgid.Valid(m.OrgID) || c.m.OrgID != m.OrgID || c.dbID != "dbA" {
		t.Fatalf("local shadow %q/%q org %q; copy org %q db %q", m.ShadowServer, m.ShadowID, m.OrgID, c.m.OrgID, c.dbID)
	}
}

// No shadow server: 451 4.4.0 with reject_on_shadow_failure and nothing
// committed; without it, 250 held here only. A transfer that breaks after
// the commit is a 250 in both cases, its copy unconfirmed.
func TestShadowOnReceiptFailures(t *testing.T) {
	for _, tc := range []struct {
		name          string
		reject        bool
		fail, pushBad bool
		want          string
		queued        int
	}{
		{"reject", true, true, false, "451 4.4.0", 0},
		{"single", false, true, false, "250", 1},
		{"transfer broke, reject", true, false, true, "250", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := startShadowServer(t, &copyQueue{}, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
			q := &blockingGoneQueue{}
			extra := "    shadow_on_receipt: prefer-remote\n"
			if tc.reject {
				extra += "    reject_on_shadow_failure: true\n"
			}
			s := receiptServer(t, q, extra, &fakeReceipt{peer: peer, fail: tc.fail, pushFail: tc.pushBad})
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.example", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", tc.want)
			// A transfer that broke with no reply may have left a copy
			// there: the 250 says so, not "no shadow copy" (rcpt47
			// item 1).
			said := "no shadow copy"
			if tc.pushBad {
				said = "shadow copy unconfirmed: one may exist on hub-b"
			}
			if tc.want == "250" && !strings.Contains(got, said) {
				t.Fatalf("reply %q; want %q", got, said)
			}
			if q.count() != tc.queued {
				t.Fatalf("queued %d, want %d", q.count(), tc.queued)
			}
			// Accepted because no shadow server took a session: the
			// commit is told, so that it marks the message held by this
			// server only (rt27 F2); a push that broke after the commit
			// is marked by its own path and names the server.
			if tc.queued == 1 {
				m := q.msgs[0]
				if wantNoCopy := tc.fail; m.NoCopy != wantNoCopy || m.NoCopy && m.ShadowServer != "" {
					t.Fatalf("committed NoCopy %v, shadow server %q; want NoCopy %v", m.NoCopy, m.ShadowServer, wantNoCopy)
				}
			}
		})
	}
}

// rt17e-F2 (SR-17, RFC 1870): every shadow server refused the copy for
// its SIZE only: with reject_on_shadow_failure the message is refused
// 552 5.3.4 naming the largest limit (retrying cannot help), not 451
// 4.4.0; nothing is committed. Without it the message is accepted held
// here only, as for any copy no server took.
func TestShadowOnReceiptCopyOverEverySize(t *testing.T) {
	tooLarge := &CopyTooLargeError{Limit: 2048, Size: 7000, Err: errors.New("hub-b: 552 5.3.4 hub-b takes messages of at most 2048 bytes (its SIZE)")}
	for _, reject := range []bool{true, false} {
		peer := startShadowServer(t, &copyQueue{}, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
		q := &blockingGoneQueue{}
		extra := "    shadow_on_receipt: prefer-remote\n"
		want, queued := "250", 1
		if reject {
			extra += "    reject_on_shadow_failure: true\n"
			want, queued = "552 5.3.4", 0
		}
		s := receiptServer(t, q, extra, &fakeReceipt{peer: peer, openErr: tooLarge})
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.example", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", want)
		if reject && !strings.Contains(got, "2048") {
			t.Fatalf("reply %q: want the limit named", got)
		}
		if q.count() != queued {
			t.Fatalf("reject %v: queued %d, want %d", reject, q.count(), queued)
		}
	}
}

// blockingGoneQueue never confirms a message: a sender that waited for
// delayed acknowledgement would wait for the (fake) clock.
type blockingGoneQueue struct{ fakeQueue }

func (q *blockingGoneQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}

// FuzzMailCopyParam: the XSHADOWCOPY= parameter is taken only as a valid
// id in a version-3 shadow session, and is never left in the line go-smtp
// sees; a line without it passes unchanged.
func FuzzMailCopyParam(f *testing.F) {
	for _, s := range []string{"MAIL FROM:<a@b> XSHADOWCOPY=db1\r\n", "MAIL FROM:<a@b> xshadowcopy=DB SIZE=10\r\n",
		"MAIL FROM:<a@b> XSHADOWCOPY=\r\n", "MAIL FROM:<a@b> XSHADOWCOPY=a/b\r\n", "MAIL FROM:<a@b>\r\n",
		"MAIL FROM:<a@b> XSHADOWCOPY=x XSHADOWCOPY=y\r\n", "MAIL FROM:<a@b>  XSHADOWCOPY==\r\n"} {
		f.Add(s, true)
	}
	v3 := &session{srv: &Server{shadow: &signalShadow{}, queue: &copyQueue{}}, shadowServer: "hub2"}
	v2 := &session{srv: &Server{shadow: &signalShadow{}, queue: &fakeQueue{}}, shadowServer: "hub2"}
	f.Fuzz(func(t *testing.T, line string, three bool) {
		s := v2
		if three {
			s = v3
		}
		s.pendingCopyDB, s.pendingShadowID = "", ""
		v := &verbConn{sess: func() *session { return s }}
		out, reply := v.mailParams([]byte(line)) // the code that runs on each MAIL line
		hasParam := func(l string) bool {
			// Parameters follow the path (go-smtp reads none before or
			// inside it; pathEnd reads the path as go-smtp does).
			s := []byte(strings.TrimRight(l, "\r\n"))
			end := pathEnd(s)
			if end < 0 {
				return false
			}
			for _, f := range strings.Fields(string(s[end:])) {
				if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "XSHADOWCOPY") {
					return true
				}
			}
			return false
		}
		switch {
		case reply != "":
			if out != nil || s.pendingCopyDB != "" || !strings.HasPrefix(reply, "50") {
				t.Fatalf("%q: reply %q with line %q, db %q", line, reply, out, s.pendingCopyDB)
			}
		case s.pendingCopyDB != "":
			if !three || !shadowid.Valid(s.pendingCopyDB) || hasParam(string(out)) ||
				!strings.HasSuffix(string(out), "\r\n") {
				t.Fatalf("%q: took %q, left %q (version 3: %v)", line, s.pendingCopyDB, out, three)
			}
		default:
			if hasParam(string(out)) {
				t.Fatalf("%q: parameter passed to go-smtp: %q", line, out)
			}
		}
	})
}

// BDAT ends a message through the same path as DATA: the copy on receipt
// is made before its 250 too.
func TestShadowOnReceiptBDAT(t *testing.T) {
	peerQ := &copyQueue{}
	peer := startShadowServer(t, peerQ, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	q := &blockingGoneQueue{}
	s := receiptServer(t, q, "    shadow_on_receipt: remote-only\n", &fakeReceipt{peer: peer})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	body := "Subject: hi\r\n\r\nhello\r\n"
	got := d.cmd(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body[:len(body)-2]), "250")
	if !strings.Contains(got, "shadow copy on hub-b") || q.count() != 1 || len(peerQ.copies) != 1 {
		t.Fatalf("reply %q; local %d copies %d", got, q.count(), len(peerQ.copies))
	}
}
