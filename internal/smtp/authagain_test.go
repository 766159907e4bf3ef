package smtp

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/routing"
)

// setPassword rewrites the credentials file with account's password
// replaced by password (the account's other lines as they were).
func setPassword(t *testing.T, creds, account, password string) {
	t.Helper()
	b, err := os.ReadFile(creds)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if rest, ok := strings.CutPrefix(l, account+":"); ok {
			l = account + ":" + string(h)
			if _, flags, ok := strings.Cut(rest, ":"); ok { // a bcrypt hash has no ":"
				l += ":" + flags
			}
		}
		out = append(out, l)
	}
	os.WriteFile(creds, []byte(strings.Join(out, "\n")+"\n"), 0o600)
}

// plainAuth is an AUTH PLAIN line for name and password.
func plainAuth(name, password string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+name+"\x00"+password))
}

// SMTP-8 (RFC 4954 §4): a session whose account a reload revoked was
// told 530 5.7.0 at its next MAIL; it has no authentication any more, so
// AUTH is not "a second AUTH after a successful one": it may
// authenticate again on the same connection, with the credentials now
// in force (the old password no longer, the new one yes), by an initial
// response or by an exchange of 334 challenges.
func TestSMTP8AuthAgainAfterRevocation(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_auth_failures: 3}
`, addr, creds)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authAlice, "235")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1") // a second AUTH after a successful one
	setPassword(t, creds, "alice", "newsecret")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250")   // the rights left take it: not told here
	d.cmd("RCPT TO:<x@remote.example>", "530 5.7.0") // refused anyway: the login's end told here
	d.cmd("RSET", "250")
	d.cmd(authAlice, "535 5.7.8") // the old password is no longer in force
	d.cmd(plainAuth("alice", "newsecret"), "235 2.0.0")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1") // authenticated again: a second AUTH is out of sequence
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250") // the authenticated users' relay again
	d.cmd("RSET", "250")

	// Revoked once more; now by an exchange of challenges (LOGIN), with
	// a cancel first.
	setPassword(t, creds, "alice", "third")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<alice@example.test>", "250")   // the rights left take it: not told here
	d.cmd("RCPT TO:<x@remote.example>", "530 5.7.0") // refused anyway: told here, again (a new login ended)
	d.cmd("RSET", "250")
	d.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	d.cmd("*", "501 5.0.0")
	d.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	d.cmd("not base64!", "501 5.5.2")
	d.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	d.cmd(base64.StdEncoding.EncodeToString([]byte("alice")), "334 UGFzc3dvcmQ6")
	d.cmd(base64.StdEncoding.EncodeToString([]byte("third")), "235 2.0.0")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250")
	d.cmd("RSET", "250")

	// Revoked again and met first by an EHLO (which drops the
	// authentication without a word): the revocation is told in the
	// first refusal of the rights left, as the first one was.
	setPassword(t, creds, "alice", "fourth")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "530 5.7.0")
	d.cmd("RSET", "250")

	// A new connection, revoked and met first by an EHLO: the AUTH that
	// follows makes the session authenticated anew, and its MAIL owes
	// no 530 of the revocation before it.
	n := dial(t, s, "")
	n.expect("220")
	n.cmd("EHLO c", "250")
	n.cmd(plainAuth("alice", "fourth"), "235")
	setPassword(t, creds, "alice", "fifth")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	n.cmd("EHLO c", "250")
	n.cmd(plainAuth("alice", "fifth"), "235")
	n.cmd("MAIL FROM:<alice@example.test>", "250")
	n.cmd("RCPT TO:<x@remote.example>", "250")
}

// SMTP-8: a session that is a transport server by its TLS client
// certificate and authenticates as a plain account (not a server one)
// gives up the servers' rights: it is that account now. When a reload
// revokes the account, the session goes on unauthenticated — with the
// rights it had as that account's session, less the account's: it does
// not get the certificate's servers' rights back, which it gave up.
func TestSMTP8RevokedPlainAccountOnCertificateSessionStaysWithoutServerRights(t *testing.T) {
	caPEM, leaf, _ := orgPKI(t)
	caFile := filepath.Join(t.TempDir(), "org-ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, key, serverPool := testCert(t)
	addr := freeAddr(t)
	creds := credsFile(t)
	conf := fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8", "::1/128"]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, cert, key, caFile, creds)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf))
	hub7 := routing.Server{Name: "hub7.test", Role: routing.RoleHub, Site: "s1", Address: "hub7.test:25"}
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	top, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub7, hub2}})
	s.SetServers(top)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub7.test", "250")
	d.cmd("STARTTLS", "220")
	tc := tls.Client(d.conn, &tls.Config{RootCAs: serverPool, ServerName: "mx.test", Certificates: []tls.Certificate{leaf("hub7.test")}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d.conn, d.r = tc, bufio.NewReader(tc)
	d.cmd("EHLO hub7.test", "250")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250") // the certificate's servers' rights
	d.cmd("RSET", "250")
	d.cmd(authAlice, "235")
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "550 5.7.1") // alice's rights: no relay
	d.cmd("RSET", "250")
	setPassword(t, creds, "alice", "newsecret")
	if err := s.Reload(connectors(t, conf), testTable()); err != nil {
		t.Fatal(err)
	}
	s.SetServers(top)
	d.cmd("MAIL FROM:<a@example.test>", "250")       // the rights left take it: the login's end is not told here
	d.cmd("RCPT TO:<x@remote.example>", "530 5.7.0") // not the servers' relay back: the login's end told here, once
	d.cmd("RSET", "250")
	d.cmd("EHLO hub7.test", "250")
	d.cmd("XSHADOW hub7.test", "550 5.7.1")         // no shadow session by the certificate either
	d.cmd("AUTH PLAIN AGh1YjIAaHVicGFzcw==", "235") // a server account may log in again
	d.cmd("MAIL FROM:<a@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.example>", "250")
}
