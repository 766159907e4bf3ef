package smtp

import (
	"fmt"
	"testing"
)

// opsAddr is a loopback address and port free a moment ago, for a
// connector that a reload must find at the same binding (the address
// 127.0.0.126, the port among 9500-9599).
func opsAddr(t *testing.T) string { return freeAddrIn(t, "127.0.0.126", 9500, 9600) }

// SMTP-8, OPS-1 (opsrt40 F1): an authentication made in clear text on a
// connector that allowed it (auth.allow_insecure) stands after a reload
// only where the connector in force would authenticate the same account
// on this connection as it is — one rule, authsAt —: a reload that
// removes allow_insecure (or leaves the connector's AUTH in TLS only by
// any other change) ends it, told once by the 530 of a revocation with
// its own reason, and the transaction open at the reload does not keep
// the relay the login gave it (451 4.7.1 at DATA, nothing queued); a
// reload that takes from the list the mechanism the session used, while
// another one that carries the same password stays, keeps it (the
// connector would authenticate the same account with the same
// credentials).
func TestSMTP8ReloadEndsLoginInClearWhereConnectorNowWantsTLS(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	creds := credsFile(t)
	conf := func(addr, mechs string, insecure bool) string {
		return fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [%s], credentials_file: %q, allow_insecure: %v}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, certFile, keyFile, mechs, creds, insecure)
	}
	const inClear = "530 5.7.0 Authentication required: a reload left this connection's receive connector offering AUTH only over TLS; the session continues unauthenticated"
	for _, tc := range []struct {
		name     string
		mechs    string
		insecure bool
		ends     bool
	}{
		{"allow_insecure removed", "PLAIN, LOGIN", false, true},
		{"the mechanism used removed, LOGIN left", "LOGIN", true, false},
		{"nothing of AUTH changed", "PLAIN, LOGIN", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := opsAddr(t)
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, conf(addr, "PLAIN, LOGIN", true))...)
			// One session idle at the reload, one in its transaction.
			idle := dial(t, s, "127.0.0.126")
			idle.expect("220")
			idle.cmd("EHLO c", "250")
			idle.cmd(authAlice, "235")
			open := dial(t, s, "127.0.0.126")
			open.expect("220")
			open.cmd("EHLO c", "250")
			open.cmd(authAlice, "235")
			open.cmd("MAIL FROM:<alice@example.test>", "250")
			open.cmd("RCPT TO:<zz@remote.test>", "250")
			if err := s.Reload(connectors(t, conf(addr, tc.mechs, tc.insecure)), testTable()); err != nil {
				t.Fatal(err)
			}
			idle.cmd("MAIL FROM:<alice@example.test>", "250") // anonymous submit takes it
			if !tc.ends {
				idle.cmd("RCPT TO:<zz@remote.test>", "250")
				open.cmd("DATA", "354")
				open.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
				return
			}
			idle.cmd("RCPT TO:<zz@remote.test>", inClear)
			idle.cmd("RCPT TO:<zz@remote.test>", "550 5.7.1") // told once: then the anonymous rights' refusal
			idle.cmd("RCPT TO:<bob@example.test>", "250")
			open.cmd("DATA", "451 4.7.1")
			if n := q.count(); n != 0 {
				t.Errorf("%d messages queued with the relay of a login the connector in force would not make in clear", n)
			}
			// A new AUTH in clear is refused as on a new connection.
			idle.cmd("RSET", "250")
			idle.cmd(authAlice, "538 5.7.11")
		})
	}
}
