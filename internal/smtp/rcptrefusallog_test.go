package smtp

import (
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/recipients"
)

// SMTP-3, OPS-4 (frontrt35 F2, its sibling): a recipient refused by the
// recipient checks — unknown to the directory (550 5.1.1), refused by
// the next hop asked (its code), or refused without asking a next hop
// that does not offer SMTPUTF8 (553 5.6.7) — is logged through the
// refusal log like every refusal: rate-limited per source, with the
// reply's codes and a reason of the README's table.
func TestSMTP3RecipientCheckRefusalsAreLogged(t *testing.T) {
	list, err := recipients.NewList([]string{"alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rf         *recipients.Refusal
		mail, rcpt string
		want       string
	}{
		{&recipients.Refusal{Code: 552, Enhanced: [3]int{5, 2, 2}, Text: "mailbox full"}, "MAIL FROM:<a@example.org>", "RCPT TO:<someone@relay.test>",
			`reason=next_hop_refused code=552 enhanced_code=5.2.2`},
		{&recipients.Refusal{Code: 553, Enhanced: [3]int{5, 6, 7}, Text: "no SMTPUTF8", NotAsked: true}, "MAIL FROM:<a@example.org> SMTPUTF8", "RCPT TO:<émile@relay.test>",
			`reason=next_hop_no_smtputf8 code=553 enhanced_code=5.6.7`},
	} {
		var logs lockedBuf
		v := recipients.NewValidator([]recipients.DomainMode{
			{Pattern: "example.test", Mode: recipients.ModeDirectory},
			{Pattern: "relay.test", Mode: recipients.ModeCallout},
		}, recipients.Chain{list}, refusingCallout{c.rf})
		s := startWith(t, ServerConfig{Log: slog.New(slog.NewTextHandler(&logs, nil)), Connectors: connectors(t, `
  - name: internet
    bindings: ["127.0.0.150:7507"]
    permissions: {anonymous: [submit]}
`)})
		s.SetRecipients(v)
		d := dial(t, s, "127.0.0.150")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd(c.mail, "250")
		d.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
		d.cmd(c.rcpt, "55")
		d.cmd("QUIT", "221")
		d.closed()
		s.Shutdown(t.Context())
		var refused []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `msg="recipient refused"`) {
				refused = append(refused, l)
			}
		}
		for _, want := range []string{`reason=unknown_recipient code=550 enhanced_code=5.1.1`, c.want} {
			found := false
			for _, l := range refused {
				found = found || strings.Contains(l, want)
			}
			if !found {
				t.Errorf("no recipient refused line with %q:\n%s", want, strings.Join(refused, "\n"))
			}
		}
	}
}
