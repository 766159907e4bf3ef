package smtp

import (
	"strings"
	"testing"

	"umbra/internal/config"
)

// SMTP-3, SMTP-8 (front33 item 1): a transaction whose recipients lost,
// by a reload before DATA, the right they were accepted under is refused
// at DATA — 451 4.7.1 naming one of them and what took the right, in
// place of the 354 — and at a first BDAT chunk (the chunk read, RFC 3030
// §2, then refused), so that the client does not send a whole body to
// be refused after it; the transaction ends there (nothing queued, the
// next DATA is out of sequence) and a new one gets, recipient by
// recipient, what a new session gets. A reload during the body is still
// judged at its end (TestSMTP3RecipientsAcceptedBeforeReloadNotRelayedAfter).
func TestSMTP3RightsLostBeforeDataRefusedBeforeBody(t *testing.T) {
	creds := credsFile(t)
	narrow := func(t *testing.T, s *Server, addr string) {
		if err := s.Reload(lostConf(t, addr, `"127.0.0.149/32"`, ""), testTable()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		conf   func(addr string) []config.ReceiveConnector
		auth   bool
		reload func(t *testing.T, s *Server, addr string)
		bdat   bool
		reason string // a word of the reply's reason
	}{
		{name: "ranges narrowed, DATA", conf: func(addr string) []config.ReceiveConnector { return lostConf(t, addr, `"127.0.0.0/8"`, "") },
			reload: narrow, reason: "reload"},
		{name: "ranges narrowed, BDAT", conf: func(addr string) []config.ReceiveConnector { return lostConf(t, addr, `"127.0.0.0/8"`, "") },
			reload: narrow, bdat: true, reason: "reload"},
		{name: "account removed, DATA", conf: func(addr string) []config.ReceiveConnector { return connectors(t, plainAuthConnector(addr, creds)) },
			auth: true, reload: func(t *testing.T, s *Server, addr string) { reloadWithoutAlice(t, s, addr) }, reason: "removed the account"},
		{name: "account removed, BDAT", conf: func(addr string) []config.ReceiveConnector { return connectors(t, plainAuthConnector(addr, creds)) },
			auth: true, reload: func(t *testing.T, s *Server, addr string) { reloadWithoutAlice(t, s, addr) }, bdat: true, reason: "removed the account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			q := &fakeQueue{}
			s := startServer(t, q, tc.conf(addr)...)
			d := dial(t, s, "127.0.0.143")
			d.expect("220")
			d.cmd("EHLO c", "250")
			if tc.auth {
				d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
			}
			d.cmd("MAIL FROM:<alice@example.test>", "250")
			d.cmd("RCPT TO:<bob@example.test>", "250")
			d.cmd("RCPT TO:<victim@other.test>", "250")
			tc.reload(t, s, addr)
			var got string
			if tc.bdat {
				got = d.cmd("BDAT 12\r\nSubject: x", "") // the chunk ends with cmd's CRLF
			} else {
				got = d.cmd("DATA", "")
			}
			if !strings.HasPrefix(got, "451 4.7.1 Recipient <") || !strings.Contains(got, "no longer permitted") || !strings.Contains(got, tc.reason) {
				t.Fatalf("reply before the body to a transaction whose recipient lost its right: %q, want 451 4.7.1 naming it and saying %q", got, tc.reason)
			}
			if tc.bdat {
				d.cmd("BDAT 4 LAST\r\nhi", "503")
			} else {
				d.cmd("DATA", "503")
			}
			q.mu.Lock()
			n := len(q.msgs)
			q.mu.Unlock()
			if n != 0 {
				t.Errorf("%d messages queued after the refusal before the body", n)
			}
			// The next transaction is judged recipient by recipient.
			d.cmd("MAIL FROM:<alice@example.test>", "")
			d.cmd("RSET", "250")
		})
	}
}
