package smtp

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/routing"
)

// laneAddr is a loopback address and port free a moment ago, for a
// connector that a reload must find at the same binding (the port among
// 8100-8199, the address 127.0.0.131).
func laneAddr(t *testing.T) string { return freeAddrIn(t, "127.0.0.131", 8100, 8200) }

// writeCreds writes a credentials file of lines "name:password[:server]"
// (the password hashed) into dir under name.
func writeCreds(t *testing.T, path string, lines ...string) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		f := strings.Split(l, ":")
		h, _ := bcrypt.GenerateFromPassword([]byte(f[1]), bcrypt.MinCost)
		b.WriteString(f[0] + ":" + string(h))
		if len(f) == 3 {
			b.WriteString(":" + f[2])
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SMTP-8, SR-1 (README "authentication is judged by the configuration in
// force at the moment it is used"): an AUTH exchange that spans a reload
// — its mechanism started, a 334 answered, the reload, then the client's
// response — is judged by the credentials and the connector in force
// when the response arrives, never by those of the moment the exchange
// began: an account the reload removed is refused, a :server flag it
// took gives no transport server, a password it changed is the new one,
// and where the reload gave the address to another connector its
// credentials judge it.
func TestSMTP8AuthExchangeSpanningReloadJudgedByCredentialsInForce(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	hub2 := routing.Server{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}
	topo, _ := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}}, Servers: []routing.Server{hub2}})
	type step struct{ line, want string }
	cases := []struct {
		name string
		// after is the credentials file's lines after the reload; other,
		// when set, a second connector's that takes the address then.
		after, other []string
		mechs        string // the mechanisms after the reload ("": PLAIN, LOGIN)
		before       []step // the exchange up to the reload
		after1       []step // the response after it, and what follows
	}{
		{name: "LOGIN account removed", after: []string{"bob:secret", "hub2:hubpass:server"},
			before: []step{{"AUTH LOGIN", "334"}, {b64("alice"), "334"}},
			after1: []step{{b64("secret"), "535 5.7.8"}, {"MAIL FROM:<a@example.test>", "250"}, {"RCPT TO:<x@remote.test>", "550 5.7.1"}}},
		{name: "PLAIN account removed", after: []string{"bob:secret", "hub2:hubpass:server"},
			before: []step{{"AUTH PLAIN", "334"}},
			after1: []step{{b64("\x00alice\x00secret"), "535 5.7.8"}}},
		{name: "LOGIN password changed, new one", after: []string{"alice:secret2", "hub2:hubpass:server"},
			before: []step{{"AUTH LOGIN", "334"}, {b64("alice"), "334"}},
			after1: []step{{b64("secret2"), "235"}, {"MAIL FROM:<a@example.test>", "250"}, {"RCPT TO:<x@remote.test>", "250"}}},
		{name: "LOGIN password changed, old one", after: []string{"alice:secret2", "hub2:hubpass:server"},
			before: []step{{"AUTH LOGIN", "334"}, {b64("alice"), "334"}},
			after1: []step{{b64("secret"), "535 5.7.8"}}},
		{name: "LOGIN server flag removed", after: []string{"alice:secret", "hub2:hubpass"},
			before: []step{{"AUTH LOGIN", "334"}, {b64("hub2"), "334"}},
			after1: []step{{b64("hubpass"), "235"}, {"XSHADOW hub2", "550 5.7.1"}, {"MAIL FROM:<a@example.test>", "250"}}},
		{name: "another connector at the address", after: []string{"alice:secret"}, other: []string{"carol:secret3"},
			before: []step{{"AUTH LOGIN", "334"}, {b64("carol"), "334"}},
			after1: []step{{b64("secret3"), "235"}, {"MAIL FROM:<a@example.test>", "250"}, {"RCPT TO:<x@remote.test>", "250"}}},
		{name: "LOGIN withdrawn", after: []string{"alice:secret"}, mechs: "PLAIN",
			before: []step{{"AUTH LOGIN", "334"}, {b64("alice"), "334"}},
			after1: []step{{b64("secret"), "454 4.7.0 Authentication unavailable: a reload took this mechanism"}, {authAlice, "235"}}},
		{name: "AUTH withdrawn", after: []string{"alice:secret"}, mechs: "-",
			before: []step{{"AUTH LOGIN", "334"}, {b64("alice"), "334"}},
			after1: []step{{b64("secret"), "454 4.7.0 Authentication unavailable: a reload took AUTH from the receive connector"}, {"MAIL FROM:<a@example.test>", "250"}, {"RCPT TO:<x@remote.test>", "550 5.7.1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := laneAddr(t)
			dir := t.TempDir()
			creds, other := filepath.Join(dir, "creds"), filepath.Join(dir, "other")
			writeCreds(t, creds, "alice:secret", "hub2:hubpass:server")
			conf := func(withOther bool, mechs string) string {
				if mechs == "" {
					mechs = "PLAIN, LOGIN"
				}
				auth := fmt.Sprintf("\n    auth: {mechanisms: [%s], credentials_file: %q, allow_insecure: true}", mechs, creds)
				perms := "permissions: {anonymous: [submit], authenticated: [submit, relay], servers: [submit, relay, accept-xshadow]}"
				if mechs == "-" { // no AUTH at all
					auth, perms = "", "permissions: {anonymous: [submit]}"
				}
				y := fmt.Sprintf(`
  - name: sub
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]%s
    %s
`, addr, auth, perms)
				if withOther {
					y += fmt.Sprintf(`
  - name: near
    bindings: [%q]
    remote_ranges: ["127.0.0.141/32"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
`, addr, other)
				}
				return y
			}
			s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, conf(false, "")))
			s.SetServers(topo)
			d := dial(t, s, "127.0.0.141")
			d.expect("220")
			d.cmd("EHLO c", "250")
			for _, st := range c.before {
				d.cmd(st.line, st.want)
			}
			writeCreds(t, creds, c.after...)
			if c.other != nil {
				writeCreds(t, other, c.other...)
			}
			if err := s.Reload(connectors(t, conf(c.other != nil, c.mechs)), testTable()); err != nil {
				t.Fatal(err)
			}
			for _, st := range c.after1 {
				d.cmd(st.line, st.want)
			}
			if !strings.HasPrefix(c.after1[0].want, "235") {
				return // unauthenticated: EHLO offers XSHADOW for a server account's AUTH (SR-1)
			}
			if ehlo := d.cmd("EHLO c", "250"); strings.Contains(ehlo, "XSHADOW") {
				t.Errorf("EHLO after the exchange offers the shadow verbs to a session authenticated as no transport server under the credentials in force:\n%s", ehlo)
			}
		})
	}
}
