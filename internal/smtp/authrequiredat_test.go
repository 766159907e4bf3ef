package smtp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// SMTP-8: the README promises a narrowed session
// the authenticated rights of the connector at its address "for an
// account it authenticated itself on the session since the reload".
// Where that connector has auth.required, the first refreshRights after
// dropAuthOffAddress finds the session unauthenticated and leaves it no
// right at all (s.perms = {}), which no later AUTH brings back: carol,
// authenticated by sub itself, cannot relay though sub and the old
// connector both grant authenticated relay.
func TestSMTP8AuthAgainAtAuthRequiredConnectorAtAddress(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	h, _ := bcrypt.GenerateFromPassword([]byte("carolpw"), bcrypt.MinCost)
	other := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(other, []byte("carol:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true, required: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, other)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, narrowConf(addr, `"127.0.0.0/16"`, creds, sub))...)
	d := dial(t, s, "127.0.0.176")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235") // \0alice\0secret
	if err := s.Reload(connectors(t, narrowConf(addr, `"127.0.0.175/32"`, creds, sub)), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("EHLO c", "250")                          // refreshRights: alice's authentication ends (sub does not hold it)
	d.cmd("AUTH PLAIN AGNhcm9sAGNhcm9scHc=", "235") // \0carol\0carolpw, judged by sub
	d.cmd("MAIL FROM:<carol@example.test>", "250")
	d.cmd("RCPT TO:<x@remote.test>", "250")
}

// SMTP-8: the end-of-body judgement for a body
// past the spool threshold (dataSpooled gets the trace field written
// again; buf holds the trace only).
func TestSMTP8RevokedDuringSpooledBodyNotAuthenticated(t *testing.T) {
	addr := freeAddr(t)
	creds := credsFile(t)
	st, _ := spoolStore(t)
	q := &bodyQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, plainAuthConnector(addr, creds)), Routing: testTable(), Queue: q,
		Spool: st.NewSpool, SpoolThreshold: 64})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235")
	d.cmd("MAIL FROM:<alice@example.test>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: " + strings.Repeat("p", 200) + "\r\n\r\n")
	reloadWithoutAlice(t, s, addr)
	d.cmd(strings.Repeat("body line\r\n", 20)+".", "250")
	q.mu.Lock()
	m, body := q.msgs[0], string(q.bodies[0])
	q.mu.Unlock()
	head := body[:strings.Index(body, "\r\n\r\n")]
	if m.Internal || strings.Contains(head, "ESMTPA") || !strings.Contains(body, "body line\r\nbody line") || !strings.HasPrefix(body, "Received: ") || strings.Count(body, "Received: ") != 1 {
		t.Errorf("Internal %v, stored:\n%s", m.Internal, body)
	}
}
