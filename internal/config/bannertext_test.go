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
    bindings: ["127.0.0.130:8130"]
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

// SMTP-2: siblings of the banner: a receive connector's name is sent
// to milters as {daemon_name} (a NUL-terminated macro value, where a
// NUL would shift every later macro), a send connector's auth.username
// goes into AUTH PLAIN's NUL-separated response; neither may hold a
// control character, DEL or a non-ASCII byte, nor be only spaces.
func TestSMTP2ConnectorNameAndUsernameWithControlRefusedAtTheirLines(t *testing.T) {
	base := `server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
`
	for _, c := range []struct{ name, yaml, at string }{
		{"receive name", base + `receive_connectors:
  - name: "in\x00x"
    bindings: ["127.0.0.130:8130"]
`, "t.yaml:5:"},
		{"send name", base + `receive_connectors:
  - name: in
    bindings: ["127.0.0.130:8130"]
send_connectors:
  - name: "out\nx"
    address_spaces: [{domain: "*"}]
`, "t.yaml:8:"},
		{"username", base + `receive_connectors:
  - name: in
    bindings: ["127.0.0.130:8130"]
send_connectors:
  - name: out
    address_spaces: [{domain: "*"}]
    smart_hosts: ["127.0.0.131"]
    tls: required
    auth: {username: "u\x00v", password_file: pw}
`, "t.yaml:12:"},
	} {
		_, err := Parse([]byte(c.yaml), "t.yaml")
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.at) || !strings.Contains(err.Error(), "control character") {
			t.Errorf("%s: not refused at its line (%s):\n%v", c.name, c.at, err)
		}
	}
}
