package smtp

import (
	"log/slog"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
)

// OPS-4, EDGE-1: the INFO line of a refusal names the reply the client
// got — its code and enhanced code — beside the reason: a relay denied,
// a check's refusal, an address literal, a mail loop.
func TestRefusalLogNamesTheReply(t *testing.T) {
	logs := &syncBuffer{}
	ck := &scripted{mail: checkRefuse(550, gosmtp.EnhancedCode{5, 7, 1}, "sender listed")}
	s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(logs, nil)), Connectors: connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`), Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{ck}, nil }})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "550 5.7.1 sender listed")
	ck.mail = Verdict{}
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@elsewhere.test>", "550 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<u@[192.0.2.1]>", "550 5.1.2")
	d.cmd("QUIT", "221")
	for _, c := range []struct{ msg, want string }{
		{"refused by check", "code=550 enhanced_code=5.7.1"},
		{"relay denied", "code=550 enhanced_code=5.7.1"},
		{"recipient refused", "code=550 enhanced_code=5.1.2"},
	} {
		got := logs.lines(c.msg)
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("%q lines: %q, want one with %q", c.msg, got, c.want)
		}
	}
}
