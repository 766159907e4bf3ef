package smtp

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/orgid"
)

// A copy on receipt (SR-17) is the primary's message, checked there: the
// peer's own end-of-data checks must not discard it, drop its
// recipients, change it or quarantine it behind a "250 Shadow copy
// kept" — the primary would count a copy that is not there, and a
// takeover after the primary's loss would deliver to fewer recipients or
// nothing. The copy is kept exactly as pushed; a discard or quarantine
// verdict the session's stages gave (Connect, HELO) refuses the copy
// (the primary then tries another server), never a 250. The checks of MAIL and RCPT are not
// asked for a copy (avail40).
func TestCopyOnReceiptNotJudgedByPeerChecks(t *testing.T) {
	ck := &scripted{edit: func(t *Transaction) {
		t.Content = append([]byte("X-Spam: yes\r\n"), t.Content...)
		t.Rcpts = t.Rcpts[:1]
	}}
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	q := &copyQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: q,
		Shadow: sh, ShadowEnabled: true, Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	push := func(want string) {
		t.Helper()
		d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
		d.cmd("RCPT TO:<x@elsewhere.org>", "250")
		d.cmd("RCPT TO:<y@elsewhere.org>", "250")
		d.cmd("DATA", "354")
		d.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: copy\r\n\r\nhello\r\n.", want)
	}
	for _, v := range []Verdict{{}, {Discard: true}, {Quarantine: "spam score 12"}} {
		ck.data = v
		push("250 2.0.0 Shadow copy kept")
	}
	if len(q.copies) != 3 {
		t.Fatalf("%d copies kept of 3 pushed", len(q.copies))
	}
	for i, c := range q.copies {
		if len(c.m.Rcpts) != 2 || c.m.Quarantine != "" || bytes.Contains(c.body, []byte("X-Spam")) {
			t.Fatalf("copy %d kept with recipients %+v, quarantine %q, body %q", i, c.m.Rcpts, c.m.Quarantine, c.body)
		}
	}
	// The checks of MAIL and RCPT are not asked for a copy either
	// (copyOfPrimary, avail40): a discard they would decide does not
	// touch it.
	ck.data, ck.mail, ck.rcpt = Verdict{}, Verdict{Discard: true}, Verdict{Discard: true}
	push("250 2.0.0 Shadow copy kept")
	if len(q.copies) != 4 || len(q.copies[3].m.Rcpts) != 2 {
		t.Fatalf("%d copies kept; the one a MAIL or RCPT check would discard was not kept whole", len(q.copies))
	}
	// A discard decided for the session (at its HELO): the copy is
	// refused, not answered 250.
	ck.mail, ck.rcpt, ck.helo = Verdict{}, Verdict{}, Verdict{Discard: true}
	d2 := dial(t, s, "")
	d2.expect("220")
	d2.cmd("EHLO hub2.test", "250")
	d2.cmd(authHub2, "235")
	d2.cmd("XSHADOW hub2", "250")
	d2.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d2.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d2.cmd("DATA", "354")
	if r := d2.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: copy\r\n\r\nhello\r\n.", "5"); strings.HasPrefix(r, "250") {
		t.Fatalf("a copy this server would discard was answered %q", r)
	}
	if len(q.copies) != 4 {
		t.Fatalf("%d copies kept; the discarded one was kept", len(q.copies))
	}
}
