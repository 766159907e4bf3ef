package smtp

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SMTP-8, SMTP-3 (README: "where no reload but the account directory
// revoked the account while the body came, … the account directory
// revoked the account this session authenticated as"): the BDAT sibling
// of TestSMTP8DirectoryRevocationDuringBodyReplyNamesNoReload. For BDAT,
// session.data runs only at BDAT LAST, after every chunk was read: the
// revocation made while the chunks came is found by its first drop, and
// the 451 must name it, not a reload that never happened.
func TestSMTP8DirectoryRevocationDuringBDATReplyNamesNoReload(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	src := &disablingSource{}
	var logs lockedBuf
	s := startWith(t, ServerConfig{Clock: clk, Accounts: src, Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, `
  - name: submission
    bindings: ["`+laneAddr(t)+`"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
ldap: {url: "ldap://127.0.0.200", base_dn: "dc=x", account_filter: "(uid=%s)"}
`)})
	d := dial(t, s, "127.0.0.131")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainAuth("carol", "pw"), "235")
	d.cmd("MAIL FROM:<carol@example.test>", "250")
	d.cmd("RCPT TO:<x@outside.invalid>", "250")
	d.cmd("BDAT 12\r\nSubject: t", "250") // "Subject: t\r\n"
	src.disabled.Store(true)
	clk.Advance(2 * time.Minute)
	got := d.cmd("BDAT 8 LAST\r\n\r\nbody", "451 4.7.1") // "\r\nbody\r\n"
	if strings.Contains(got, "reload") {
		t.Errorf("no reload took place (the directory disabled the account while the BDAT chunks came), yet the reply says one did: %q", got)
	}
}

// SMTP-8, SMTP-3: the same for a reload that removes the account while
// the BDAT chunks come: DATA's end of data names the login's end ("the
// authentication it was accepted under ended (a reload removed the
// account …)"), BDAT's must too. And for one between a relayed RCPT and
// a RCPT the anonymous rights accept, which ends the login at that RCPT
// without telling it (the command is taken): the refusal at DATA or the
// first BDAT chunk, before the body, names the login's end, not a right
// the connectors lost.
func TestSMTP8AccountRemovedDuringBDATReplyNamesLoginEnd(t *testing.T) {
	creds := credsFile(t)
	for _, tc := range []struct {
		name        string
		bdat, early bool // early: the reload before a second, accepted RCPT
	}{{"DATA", false, false}, {"BDAT", true, false}, {"DATA after an accepted RCPT", false, true}, {"BDAT after an accepted RCPT", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := laneAddr(t)
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, plainAuthConnector(addr, creds))...)
			d := dial(t, s, "127.0.0.131")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
			d.cmd("MAIL FROM:<alice@example.test>", "250")
			d.cmd("RCPT TO:<victim@other.test>", "250")
			var got string
			switch {
			case tc.early:
				reloadWithoutAlice(t, s, addr)
				d.cmd("RCPT TO:<bob@example.test>", "250")
				if tc.bdat {
					got = d.cmd("BDAT 12\r\nSubject: t", "451 4.7.1")
				} else {
					got = d.cmd("DATA", "451 4.7.1")
				}
			case tc.bdat:
				d.cmd("BDAT 12\r\nSubject: t", "250")
				reloadWithoutAlice(t, s, addr)
				got = d.cmd("BDAT 8 LAST\r\n\r\nbody", "451 4.7.1")
			default:
				d.cmd("DATA", "354")
				reloadWithoutAlice(t, s, addr)
				got = d.cmd("Subject: t\r\n\r\nbody\r\n.", "451 4.7.1")
			}
			if n := q.count(); n != 0 {
				t.Errorf("%d messages queued after the 451", n)
			}
			if !strings.Contains(got, "authentication it was accepted under ended") {
				t.Errorf("reply to a transaction whose login a reload ended: %q, want it to name the login's end", got)
			}
		})
	}
}
