package msgauth

import (
	"strings"
	"testing"
)

// Text of the message that a check cannot parse is not echoed into
// Authentication-Results where a parser that searches the field's text
// could read it as a result (observation of rt18a): a From: domain that
// is no domain name, an ARC set's instance that is no number. The
// comment says what is wrong with a bounded, sanitised form of the value:
// no "=", ";", quote or parenthesis of it.
func TestUnparsableTextNotEchoedAsResults(t *testing.T) {
	e := startEdge(t, "{profile: internet, dmarc: header}", senderZone...) // results in the header only: the message is taken
	forged := strings.Replace(message("a@none.test", "forged-from"), "From: Sender <a@none.test>",
		`From: bob@"x); dmarc=pass header.from=paypal.test; (y"`, 1)
	forged = "ARC-Seal: i=arc=pass; a=rsa-sha256; cv=none; d=none.test; s=s; b=AAAA\r\n" + forged
	if got := e.send(t, "client.test", "a@none.test", forged); !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q", got)
	}
	_, body := e.q.last(t)
	ar := authResults(t, body)
	if n := strings.Count(ar, "dmarc="); n != 1 || !strings.Contains(ar, "dmarc=permerror") || strings.Contains(ar, "header.from=paypal.test") {
		t.Errorf("the From: field's text reads as a result:\n%s", ar)
	}
	if strings.Count(ar, "arc=") != 2 || strings.Contains(ar, "arc=pass") { // arc= and dmarc=
		t.Errorf("the ARC-Seal's text reads as a result:\n%s", ar)
	}
	if !strings.Contains(ar, "is not a domain name") || !strings.Contains(ar, "bad instance") {
		t.Errorf("the comment no longer says what is wrong:\n%s", ar)
	}
}
