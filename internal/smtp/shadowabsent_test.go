package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// TestShadowVerbsNotOfferedAre502InEveryState (W-1, rt24b F3): on a
// connector that offers the shadow verbs to nobody, each is 502 5.5.1
// "<verb> not available" before any greeting, after HELO and after
// EHLO, as AUTH is on a connector without it: no greeting would make
// them available, and no reply names the shadow protocol's order
// ("XSHADOW first"), and their MAIL parameters are unknown ones (555
// 5.5.4), not "outside a shadow session". A connector that does offer them keeps the
// sequence replies: 503 5.5.1 "Send EHLO first" before a greeting and
// after HELO.
func TestShadowVerbsNotOfferedAre502InEveryState(t *testing.T) {
	verbs := []string{"XSHADOW abc", "XQUERYDISCARD 1", "XQDISCARD 1", "XQUERYHELD a-1", "XQUERYDROPPED 1", "XQUERYTAKENDONE 1", "XDISCARD 000661CE00000000"}
	sh := &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}
	plain := startShadowServer(t, &markQueue{mark: 1}, sh, true, connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`))
	for _, greet := range []string{"", "HELO c.test", "EHLO c.test"} {
		d := dial(t, plain, "")
		d.expect("220")
		if greet != "" {
			d.cmd(greet, "250")
		}
		for _, v := range verbs {
			verb, _, _ := strings.Cut(v, " ")
			if got := d.cmd(v, "502 5.5.1"); got != "502 5.5.1 "+verb+" not available" {
				t.Errorf("after %q, %s: %q, want 502 5.5.1 %s not available", greet, v, got, verb)
			}
		}
		if greet == "EHLO c.test" {
			// Their MAIL parameters are unknown ones here.
			for _, p := range []string{"XSHADOW=abc", "XSHADOWCOPY=abc", "XSHADOWMARK=1", "XSHADOWBATCH=1"} {
				d.cmd("MAIL FROM:<a@example.org> "+p, "555 5.5.4 MAIL FROM parameter "+strings.SplitN(p, "=", 2)[0]+" not recognized")
			}
		}
		d.cmd("QUIT", "221")
		d.closed()
	}

	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	for _, v := range verbs { // before any greeting: the greeting first
		d.cmd(v, "503 5.5.1 Send EHLO first")
	}
	d.cmd("EHLO c.test", "250")
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=abc", "503 5.5.1 XSHADOW parameter outside a shadow session")
	d.cmd("HELO c.test", "250")
	for _, v := range verbs {
		d.cmd(v, "503 5.5.1 Send EHLO first: ")
	}
	d.cmd("QUIT", "221")
}

// TestShadowVerbsNotOfferedAfterStartTLS (W-1, rr25 M1): the one state in
// which a verb the connector does not offer gets no 502: after STARTTLS
// and before the new EHLO, AUTH and the shadow verbs are answered as any
// command but EHLO, HELO, NOOP, RSET and QUIT (RFC 3207 §4.2), 503 5.5.1
// "Send EHLO first (state discarded by STARTTLS)"; after that EHLO they
// are 502 again.
func TestShadowVerbsNotOfferedAfterStartTLS(t *testing.T) {
	cert, key, pool := testCert(t)
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, connectors(t, fmt.Sprintf(`
  - name: internet
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key)))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.startTLS(pool)
	for _, v := range []string{"AUTH PLAIN", "XSHADOW abc", "XQUERYDISCARD 1", "XDISCARD 000661CE00000000"} {
		if got := d.cmd(v, "503"); got != replyGreetAgain {
			t.Errorf("after STARTTLS, before EHLO, %s: %q, want %q", v, got, replyGreetAgain)
		}
	}
	d.cmd("EHLO c.test", "250")
	d.cmd("AUTH PLAIN", "502 5.5.1")
	d.cmd("XSHADOW abc", "502 5.5.1 XSHADOW not available")
	d.cmd("XQUERYDISCARD 1", "502 5.5.1 XQUERYDISCARD not available")
	d.cmd("QUIT", "221")
}
