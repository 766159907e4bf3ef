package msgauth

import (
	"strings"
	"testing"
)

// TestProseSpoofOverSMTP (EDGE-1; rr25 F1, F2 of front24, 5d39648b): a From:
// display name that shows bank.com, or the organisation's own corp.lan,
// with one look-alike letter or with junk a reader sets apart after the
// domain is refused (550 5.7.1 ... shows an address of another domain),
// as before front24; front24's prose rule had accepted each, with
// header.from of the real sender.
func TestProseSpoofOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, from := range []string{
		"\"ceo@bank.\u0441om\" <a@client.test>", // Cyrillic es in "com"
		"\"ceo@corp.l\u0430n\" <a@client.test>", // own corp.lan, Cyrillic a
		"\"ceo@\u0441orp.lan\" <a@client.test>", // own corp.lan, Cyrillic es
		"\"ceo@bank.com-\" <a@client.test>",
		"\"ceo@corp.lan\u0661\" <a@client.test>",
	} {
		msg := strings.Replace(message("a@client.test", "ps"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "550 5.7.1 ") {
			t.Errorf("From: %q: %q, want 550 5.7.1 (shows an address of another domain)", from, got)
		}
	}
}
