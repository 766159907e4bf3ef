package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// route explain refuses an address with the reply the live RCPT gives
// it: an invalid internationalised domain (bad punycode, a KELVIN SIGN)
// 553 5.1.3 naming the label, bad syntax 501 5.1.3.
func TestRcptAddressRefusalIsRCPTs(t *testing.T) {
	cfg := &config.Config{}
	for in, want := range map[string][]string{
		"x@xn--zz.example":     {"553 5.1.3", "xn--zz"},
		"anna@\u212Aiosk.test": {"553 5.1.3", "U+212A"},
		"a b@example.test":     {"501 5.1.3"},
	} {
		_, err := rcptAddress(cfg, in, true)
		if err == nil {
			t.Errorf("%q accepted", in)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v; want %q in it", in, err, w)
			}
		}
	}
}

// route explain --smtputf8=false explains as a client that did not say
// SMTPUTF8: an address with a non-ASCII character (a U-label domain, a
// UTF-8 local part) gets RCPT's 553 5.6.7, the A-label form of the same
// address is routed; by default (a client that said it) the non-ASCII
// address is routed and the explanation says it needs SMTPUTF8.
func TestRouteExplainWithoutSMTPUTF8(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte(`server:
  name: hub.test
  data_dir: `+filepath.Join(dir, "data")+`
accepted_domains:
  - domain: xn--bcher-kva.example
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: local
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
mailbox:
  maildir: maildir
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--smtputf8=false", "anna@bücher.example"}, exitUsage, "553 5.6.7"},
		{[]string{"--smtputf8=false", "émile@xn--bcher-kva.example"}, exitUsage, "553 5.6.7"},
		{[]string{"--smtputf8=false", "anna@xn--bcher-kva.example"}, 0, "250 2.1.5"},
		// Non-ASCII needs SMTPUTF8 first, whatever IDNA says of the
		// label, as RCPT says (front47 F2).
		{[]string{"--smtputf8=false", "anna@\u212Aiosk.example"}, exitUsage, "553 5.6.7"},
		{[]string{"anna@bücher.example"}, 0, "553 5.6.7"},
		{[]string{"--smtputf8=true", "anna@bücher.example"}, 0, "needs SMTPUTF8"},
	} {
		out, errOut, code := umbraIn(t, dir, nil, append([]string{"route", "explain", "--config", p}, c.args...)...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("route explain %q: exit %d, want %d with %q:\n%s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
}
