package smtp

import (
	"fmt"
	"strings"
	"testing"
	"umbra/internal/orgid"
)

// TestShadowOffByReloadKeepsNoStaleShadowID (W-3, SR-17; rr25 F3 of
// front24, ef8d2246/a3dba2be): mailParams skips mailShadowParam and copyParams
// when the connector offers the shadow verbs to nobody, but those two
// are also what forgets the previous MAIL's XSHADOW= / XSHADOWCOPY=
// (pendingShadowID, pendingCopyDB: nothing else clears them). A reload
// that takes accept-xshadow away from a connector while a shadow
// session is open makes noShadow() true for that session, and its next
// MAIL — without any shadow parameter — inherits the last transaction's
// shadow id: a plain message is queued as shadowed under another
// message's id.
func TestShadowOffByReloadKeepsNoStaleShadowID(t *testing.T) {
	conf := transportConf(t)
	sh := &fakeShadow{notes: map[string][]string{}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, connectors(t, conf(", accept-xshadow")))
	d := shadowSession(t, s)
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=hub2.msg-42", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: one\r\n\r\nhi\r\n.", "250")
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	// The shadow session ends (rr34 F1): no MAIL of it can inherit the
	// last transaction's shadow id; the primary connects again.
	d.cmd("MAIL FROM:<b@example.org>", "421 4.7.0 Shadow session ended")
	if q.count() != 1 {
		t.Fatalf("%d queued", q.count())
	}
}

// TestShadowOffByReloadTurnsNoMessageIntoCopy (SR-17, rr25 F3): the same for
// XSHADOWCOPY= (copyParams is skipped, pendingCopyDB kept): after the
// reload, a plain MAIL on the session that pushed a copy is answered
// "250 2.0.0 Shadow copy kept" — the message is kept as hub2's shadow
// copy, not submitted for delivery, while the client holds a 250.
func TestShadowOffByReloadTurnsNoMessageIntoCopy(t *testing.T) {
	conf := transportConf(t)
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	q := &copyQueue{}
	s := startShadowServer(t, q, sh, true, connectors(t, conf(", accept-xshadow")))
	d := shadowSession(t, s)
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=db1", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: copy\r\n\r\nhello\r\n.", "250 2.0.0 Shadow copy kept")
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	// The shadow session ends (rr34 F1) before any MAIL after the
	// reload: nothing is kept as a copy, nothing submitted.
	got := d.cmd("MAIL FROM:<b@example.org>", "421 4.7.0 Shadow session ended")
	if q.count() != 0 || len(q.copies) != 1 {
		t.Errorf("plain MAIL after the reload: %q; submitted %d, copies %d — want none submitted, the one copy from before", got, q.count(), len(q.copies))
	}
}

// TestShadowSessionEndsTemporarilyAfterReload (W-3, OPS-1; rr25 F3,
// rr34 F1): the session the reload found open was established (XSHADOW
// answered 250); umbra's client puts XSHADOW= on every MAIL of such a
// session (delivery/transaction.go SetShadowID) and takes a 5xx to MAIL
// as a permanent failure of every recipient (classifyAll → FailedPerm: a
// bounce). A reload that took accept-xshadow away ends the session with
// a 421 at that MAIL — a temporary answer: the primary connects again —
// never "555 5.5.4 MAIL FROM parameter not recognized".
func TestShadowSessionEndsTemporarilyAfterReload(t *testing.T) {
	conf := transportConf(t)
	sh := &fakeShadow{notes: map[string][]string{}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, connectors(t, conf(", accept-xshadow")))
	d := shadowSession(t, s)
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	if got := d.cmd("MAIL FROM:<a@example.org> XSHADOW=hub2.msg-43", ""); !strings.HasPrefix(got, "421 4.7.0 Shadow session ended") {
		t.Errorf("MAIL with XSHADOW= in the established shadow session after the reload: %q, want the 421 that ends the session (a 5xx is a permanent failure to the primary)", got)
	}
}

// TestShadowParamsForgottenWhereShadowOff (W-3, SR-17; rr25 F3): where
// the shadow MAIL parameters are unknown — a reload took accept-xshadow
// away and the session's shadow session ended with STARTTLS (RFC 3207
// §4.2: the session forgets what it learnt before) — a plain MAIL still forgets the shadow id and the copy of the
// transaction before: the message is submitted with no shadow id, not
// kept as a copy.
func TestShadowParamsForgottenWhereShadowOff(t *testing.T) {
	cert, key, pool := testCert(t)
	conf := func(addr, right string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    tls: {cert_file: %q, key_file: %q}
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay%s]}
`, addr, cert, key, right)
	}
	for _, param := range []string{"XSHADOW=hub2.msg-42", "XSHADOWCOPY=db1"} {
		addr := freeAddr(t)
		sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
		q := &copyQueue{}
		s := startShadowServer(t, q, sh, true, connectors(t, conf(addr, ", accept-xshadow")))
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd("XSHADOW hub2", "250") // externally secured: a transport server
		d.cmd("MAIL FROM:<a@example.org> "+param, "250")
		d.cmd("RCPT TO:<x@elsewhere.org>", "250")
		d.cmd("DATA", "354")
		d.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: first\r\n\r\nhello\r\n.", "250")
		before := q.count()
		d.startTLS(pool)
		if err := s.Reload(connectors(t, conf(addr, "")), testTable()); err != nil {
			t.Fatal(err)
		}
		d.cmd("EHLO hub2.test", "250")
		d.cmd("MAIL FROM:<a@example.org> "+param, "555 5.5.4") // unknown here now
		d.cmd("MAIL FROM:<b@example.org>", "250")
		d.cmd("RCPT TO:<y@elsewhere.org>", "250")
		d.cmd("DATA", "354")
		got := d.cmd(orgid.Header+": "+orgid.New()+"\r\nSubject: plain\r\n\r\nhello\r\n.", "250")
		if q.count() != before+1 {
			t.Fatalf("%s, then a plain MAIL after STARTTLS and the reload: %q; %d submitted — want it submitted", param, got, q.count()-before)
		}
		if m := q.msgs[len(q.msgs)-1]; m.ShadowID != "" || m.ShadowServer != "" {
			t.Errorf("%s, then a plain MAIL: queued with ShadowServer %q ShadowID %q", param, m.ShadowServer, m.ShadowID)
		}
		d.cmd("QUIT", "221")
	}
}

// TestShadowKeywordAgreesWithVerbsAfterReload (W-1, SR-1, OPS-1; rr25
// F3): the EHLO keyword and the shadow verbs read the same rights, those
// now in force: after a reload takes accept-xshadow away, a session's
// next EHLO no longer offers XSHADOW and XSHADOW is 502; after one that
// grants it, the next EHLO offers it and XSHADOW opens a shadow session.
// The shadow session established before the reload ends (421, rr34 F1).
func TestShadowKeywordAgreesWithVerbsAfterReload(t *testing.T) {
	conf := transportConf(t)
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, connectors(t, conf(", accept-xshadow")))
	shadowed := shadowSession(t, s)
	d := dial(t, s, "")
	d.expect("220")
	if got := d.cmd("EHLO hub2.test", "250"); !offersKeyword(got, "XSHADOW") {
		t.Fatalf("XSHADOW not offered before the reload:\n%s", got)
	}
	if err := s.Reload(connectors(t, conf("")), testTable()); err != nil {
		t.Fatal(err)
	}
	if got := d.cmd("EHLO hub2.test", "250"); offersKeyword(got, "XSHADOW") {
		t.Errorf("EHLO after the reload that took accept-xshadow away still offers it:\n%s", got)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "502 5.5.1 XSHADOW not available")
	d.cmd("XQUERYDISCARD 1", "502 5.5.1 XQUERYDISCARD not available")
	// The shadow session established before ends at its next verb
	// (rr34 F1): its connector no longer grants it accept-xshadow.
	shadowed.cmd("XQUERYDISCARD 1", "421 4.7.0 Shadow session ended")

	if err := s.Reload(connectors(t, conf(", accept-xshadow")), testTable()); err != nil {
		t.Fatal(err)
	}
	if got := d.cmd("EHLO hub2.test", "250"); !offersKeyword(got, "XSHADOW") {
		t.Errorf("EHLO after the reload that granted accept-xshadow again does not offer it:\n%s", got)
	}
	d.cmd("XSHADOW hub2", "250")
	d.cmd("QUIT", "221")
}

// transportConf is a receive connector "transport" on a free loopback
// address, taking hub2's login (credsFile) in clear, whose transport
// servers may submit and relay, with right added to theirs (",
// accept-xshadow" gives them the shadow verbs).
func transportConf(t *testing.T) func(right string) string {
	addr := freeAddr(t)
	creds := credsFile(t)
	return func(right string) string {
		return fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay%s]}
`, addr, creds, right)
	}
}

// shadowSession is a session with s in which hub2 logged in and opened
// a shadow session (XSHADOW hub2 answered 250).
func shadowSession(t *testing.T, s *Server) *dialog {
	t.Helper()
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	return d
}

// offersKeyword reports whether an EHLO reply lists keyword (its first
// word on a line: XSHADOWDB, which a transport server's session gets
// with or without the verb, is not XSHADOW).
func offersKeyword(ehlo, keyword string) bool {
	for _, line := range strings.Split(ehlo, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < 4 {
			continue
		}
		if f := strings.Fields(line[4:]); len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}
