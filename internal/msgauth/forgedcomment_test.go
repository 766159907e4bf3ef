package msgauth

import (
	"crypto/sha256"
	"encoding/base64"
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

// Every Authentication-Results comment passes through commentText, which
// maps "=", ";" and quotes to "?": message text that reaches a reason by
// a path other than quoteShort (an ARC set's d= or cv= in "key …" or
// "i=1 cv=…") cannot read as a result either (doc.go; review of fixa18).
func TestARCTagTextNotEchoedAsResults(t *testing.T) {
	e := startEdge(t, "{profile: internet, dmarc: header}", senderZone...)
	sum := sha256.Sum256(canonBody([]byte("hello bob\r\n"), true))
	bh := base64.StdEncoding.EncodeToString(sum[:]) // the body hash holds: the key is looked up
	for _, c := range []struct{ name, sets string }{
		{"cv", "ARC-Seal: i=1; a=rsa-sha256; cv=dmarc=pass; d=none.test; s=s; b=AAAA\r\n" +
			"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=none.test; s=s; h=from; bh=AAAA; b=AAAA\r\n" +
			"ARC-Authentication-Results: i=1; none.test; spf=none\r\n"},
		{"d", "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=none.test; s=s; b=AAAA\r\n" +
			"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=x.dmarc=pass\"; s=s; h=from; bh=" + bh + "; b=AAAA\r\n" +
			"ARC-Authentication-Results: i=1; none.test; spf=none\r\n"},
	} {
		msg := c.sets + message("a@none.test", "arc-"+c.name)
		if got := e.send(t, "client.test", "a@none.test", msg); !strings.HasPrefix(got, "250") {
			t.Fatalf("%s: reply %q", c.name, got)
		}
		_, body := e.q.last(t)
		ar := authResults(t, body)
		if strings.Contains(ar, "dmarc=pass") || strings.Count(ar, "dmarc=") != 1 || strings.Count(ar, "arc=") != 2 {
			t.Errorf("%s: the ARC set's text reads as a result:\n%s", c.name, ar)
		}
		if !strings.Contains(ar, "arc=fail (i=1 cv 'dmarc?pass', want none)") && !strings.Contains(ar, "key s._domainkey.x.dmarc?pass?") {
			t.Errorf("%s: the comment no longer says what is wrong:\n%s", c.name, ar)
		}
	}
}
