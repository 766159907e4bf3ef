package config

import (
	"strings"
	"testing"
)

// SMTP-2: a receive connector's banner is written into the 220
// greeting; a CR/LF in it would add a reply line of its own (every
// client one reply out of step) and one of spaces alone greets with no
// name, getting around the refusal of banner: "". Both are refused at
// the banner's line, like any other control character or DEL.
func TestSMTP2BannerWithControlOrOnlySpacesIsRefusedAtItsLine(t *testing.T) {
	for _, c := range []struct{ name, banner string }{
		{"crlf", `"mx.example ready\r\n250 injected"`},
		{"lf", `"mx.example ready\n250 injected"`},
		{"tab", `"mx.example\tready"`},
		{"del", `"mx.example\x7f"`},
		{"nul", `"mx\x00example"`},
		{"spaces", `"   "`},
	} {
		y := `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors:
  - name: in
    bindings: ["127.0.0.130:38130"]
    banner: ` + c.banner + `
`
		_, err := Parse([]byte(y), "t.yaml")
		if err == nil {
			t.Errorf("%s: banner %s loaded", c.name, c.banner)
			continue
		}
		if !strings.Contains(err.Error(), "t.yaml:7:") || !strings.Contains(err.Error(), "banner") {
			t.Errorf("%s: not refused at the banner's line:\n%v", c.name, err)
		}
	}
}
