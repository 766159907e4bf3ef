package msgauth

import (
	"strings"
	"testing"
)

// TestASCIILookAlikeRefusedOverSMTP (EDGE-1; review of front25 F1):
// a From: display name showing the own corp.lan with a capital I for
// the l, or bank.com with "rn" for the m or a zero for the o, or
// paypal.com with hyphen-joined junk, is refused (550 5.7.1), as the
// look-alike of another script is: it was taken (250) with header.from
// of the real sender while showsDomain refused a look-alike only
// outside ASCII.
func TestASCIILookAlikeRefusedOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, from := range []string{
		"\"ceo@corp.Ian\" <a@client.test>",
		"\"ceo@bank.corn\" <a@client.test>",
		"\"ceo@bank.c0m\" <a@client.test>",
		"\"it@paypal.com-verify\" <a@client.test>",
	} {
		msg := strings.Replace(message("a@client.test", "rr"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "550 5.7.1 ") {
			t.Errorf("From: %q: %q, want 550 5.7.1 (shows an address of another domain)", from, got)
		}
	}
}
