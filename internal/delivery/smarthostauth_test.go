package delivery

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// authConnector is a smart-host send connector to addr that logs in as
// hopuser over tls.
func authConnector(t *testing.T, addr string, tlsMode string) config.SendConnector {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.SendConnector{Name: "smarthost", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: tlsMode,
		Auth: config.SendAuth{Username: "hopuser", PasswordFile: pwFile}}
}

func hopTLS(t *testing.T) *tls.Config {
	t.Helper()
	certPEM, keyPEM, _ := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// rt28d F1: a send connector that logs in (SMTP-4) sends its credentials
// only to a host whose EHLO offered AUTH with a mechanism umbra has
// (RFC 4954 §4), only over TLS, answers "*" only to a 334 (§4), and ends
// a session whose login failed with QUIT. A host that offered no AUTH is
// deferred in the README's words, "authentication to HOST failed: AUTH
// not offered: …", never as a refused password. SMTP-4, SMTP-1.
func TestSMTP4LoginOnlyWhenOffered(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("\x00hopuser\x00s3cret"))
	for _, c := range []struct {
		name      string
		noTLS     bool // the host offers no STARTTLS; the connector is opportunistic
		ext, auth []string
		want      queue.Outcome
		reply     string   // the deferral contains it
		sent      []string // lines the client must have sent, in order
		notSent   []string // prefixes of lines it must not have sent
	}{
		{name: "no AUTH offered", want: queue.Deferred,
			reply: "AUTH not offered", notSent: []string{"AUTH", "*", "MAIL"}, sent: []string{"QUIT"}},
		{name: "no mechanism umbra has", ext: []string{"AUTH CRAM-MD5 XOAUTH2"}, want: queue.Deferred,
			reply: "AUTH not offered", notSent: []string{"AUTH", "*", "MAIL"}, sent: []string{"QUIT"}},
		{name: "password refused", ext: []string{"AUTH PLAIN LOGIN"}, want: queue.Deferred,
			reply: "535 5.7.8 credentials invalid", notSent: []string{"*", "MAIL"},
			sent: []string{"AUTH PLAIN " + secret, "QUIT"}},
		{name: "PLAIN taken", ext: []string{"AUTH PLAIN"}, auth: []string{"235 2.7.0 ok"}, want: queue.RelayedOK,
			notSent: []string{"*"}, sent: []string{"AUTH PLAIN " + secret, "MAIL"}},
		{name: "LOGIN only", ext: []string{"AUTH LOGIN"},
			auth: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 ok"}, want: queue.RelayedOK,
			notSent: []string{"*", "AUTH PLAIN"},
			sent: []string{"AUTH LOGIN", base64.StdEncoding.EncodeToString([]byte("hopuser")),
				base64.StdEncoding.EncodeToString([]byte("s3cret")), "MAIL"}},
		{name: "challenge PLAIN cannot answer", ext: []string{"AUTH PLAIN"}, auth: []string{"334 "}, want: queue.Deferred,
			reply: "authentication to", notSent: []string{"MAIL"}, sent: []string{"AUTH PLAIN", "*", "QUIT"}},
		{name: "no TLS", noTLS: true, ext: []string{"AUTH PLAIN LOGIN"}, want: queue.Deferred,
			reply: "TLS", notSent: []string{"AUTH", "MAIL"}, sent: []string{"QUIT"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &scriptHop{ext: c.ext, auth: c.auth}
			mode := config.TLSRequired
			if c.noTLS {
				mode = config.TLSOpportunistic
			} else {
				h.tls = hopTLS(t)
			}
			startScriptHop(t, h)
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, authConnector(t, h.addr, mode))
			m := message("v@noauth.test")
			res := d.Deliver(context.Background(), m, body, all(m))
			d.Close() // pooled sessions end with QUIT
			<-h.done
			cmds := h.commands()
			if len(res) != 1 || res[0].Outcome != c.want {
				t.Fatalf("results: %+v, want %v\ncommands: %q", res, c.want, cmds)
			}
			if c.want == queue.Deferred && (!strings.HasPrefix(res[0].Reply, "451 4.7.0 authentication to ") ||
				!strings.Contains(res[0].Reply, c.reply)) {
				t.Errorf("reply %q, want 451 4.7.0 authentication to … %s", res[0].Reply, c.reply)
			}
			for _, p := range c.notSent {
				if h.sent(p) {
					t.Errorf("sent a line starting %q: %q", p, cmds)
				}
			}
			i := 0
			for _, cmd := range cmds {
				if i < len(c.sent) && strings.HasPrefix(cmd, c.sent[i]) {
					i++
				}
			}
			if i < len(c.sent) {
				t.Errorf("commands %q, want %q among them in order", cmds, c.sent)
			}
		})
	}
}
