package msgauth

import (
	"strings"
	"testing"
)

// bidi23 zone: the client at 127.0.0.182.
var bidiZone = []string{
	`client.test. 300 IN TXT "v=spf1 ip4:127.0.0.182 -all"`,
	`_dmarc.client.test. 300 IN TXT "v=DMARC1; p=reject"`,
}

// bidi23 (1), (3), (4) over SMTP (EDGE-1): a From: display name is read
// as a reader lays it out — the marks RLM and ALM reorder Latin words in
// a right-to-left paragraph, so a name that shows another domain's
// address only in its visual order (boundary neutrals removed, as UAX #9
// X9 does: rr23 F1) is refused with 550 5.7.1, as is a JIS run whose
// quote byte a byte reader ends the name at before an address (rr23 F2); a raw
// ISO-2022-JP name whose JIS characters hold a quote or parenthesis byte,
// a Hebrew name with its marks, "Events @ Mt. St. Helen's" and
// "Team@Acme" name their author and are taken.
func TestFromDisplayNamesOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", bidiZone...)
	e.src = "127.0.0.182"
	for i, from := range []string{
		"\"\x1b$B$\"$-$i\x1b(B\" <a@client.test>",
		"a@client.test (\x1b$B$($)\x1b(B)",
		"\"\u05d3\u05d5\u05d3 \u05db\u05d4\u05df\u200f\" <a@client.test>",
		"=?windows-1255?q?=E3=E5=E3_=EB=E4=EF=FE?= <a@client.test>",
		"\"\u200fa@client.test \u05d3\u05d5\u05d3\" <a@client.test>",
		"\"Events @ Mt. St. Helen's\" <a@client.test>",
		"\"Team@Acme\" <a@client.test>",
	} {
		msg := strings.Replace(message("a@client.test", "name"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "250") {
			t.Errorf("From: %q: %q", from, got)
			continue
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "dmarc=pass", "header.from=client.test")
	}
	n := len(e.q.msgs)
	for i, c := range []struct{ from, why string }{
		{"\"\u200forg \u200f. \u200fexample \u200f@ \u200fjdoe\" <a@client.test>", "another domain at 'jdoe@example.org'"},
		{"\"\u061corg\u061c.\u061cexample\u061c@\u061cjdoe\" <a@client.test>", "another domain at 'jdoe"},
		{"=?utf-8?q?=E2=80=8Forg_=E2=80=8F._=E2=80=8Fexample_=E2=80=8F=40_=E2=80=8Fjdoe?= <a@client.test>", "another domain at 'jdoe@example.org'"},
		{"=?windows-1255?q?=FEorg_=FE._=FEexample_=FE=40_=FEjdoe?= <a@client.test>", "another domain at 'jdoe@example.org'"},
		{"\"\u202egro.elpmaxe @ oec\" <a@client.test>", "a display name with a bidi override or isolate, U+202E, shown reordered"},
		{"\"\x1b$B$\"<ceo@bank.test>!\x1b(B\" <a@client.test>", "ISO-2022-JP text whose bytes a reader that does not decode it reads as an address"},
		{"\"\x1b$B$\"<ceo@bank(x).test>$\"\x1b(B\" <a@client.test>", "ISO-2022-JP text whose bytes a reader that does not decode it reads as an address"},
		{"\"test\u00ad\u0661 \u200f. bank \u200f@ jdoe\" <a@client.test>", "another domain at 'jdoe@bank.test"},
		{"\"ceo @ bank. test. Jo's\" <a@client.test>", "another domain at 'ceo@bank.test'"},
		{"\"n@ai\" <a@client.test>", "another domain at 'n@ai'"},
	} {
		msg := strings.Replace(message("a@client.test", "spoof"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+c.from, 1)
		got := e.send(t, "client.test", "a@client.test", msg)
		if !strings.HasPrefix(got, "550 5.7.1 message refused: DMARC needs one author domain in From:") || !strings.Contains(got, c.why) {
			t.Errorf("From: %q: %q, want a refusal saying %q", c.from, got, c.why)
		}
	}
	if len(e.q.msgs) != n {
		t.Errorf("%d messages queued", len(e.q.msgs)-n)
	}
}

// bidi23 (2), EDGE-1: no top-level domain is one character (RFC 3696
// §2, as the display-name check reads a shown domain): an author domain
// whose last label is one letter, a@x.y, is no domain name and refused
// like a@127.0.0.1, never asked for a DMARC record; an SPF identity
// (MAIL FROM, the HELO name, postmaster@ the HELO name for the null
// sender of a DSN) with such a domain is spf=none, "no domain to check",
// as one that is IP-address text, without a DNS question.
func TestOneLetterTopLabelIsNoDomainOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", bidiZone...)
	e.src = "127.0.0.182"
	for i, c := range []struct{ from, domain string }{
		{"a@x.y", "x.y"},
		{"Sender <a@example.c>", "example.c"},
		{"a@example.c.", "example.c."},
		{"a@client.test.x", "client.test.x"},
	} {
		msg := strings.Replace(message("a@client.test", "one"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+c.from, 1)
		got := e.send(t, "client.test", "a@client.test", msg)
		if !strings.HasPrefix(got, "550 5.7.1 message refused: DMARC needs one author domain in From: (From: domain '"+c.domain+"' is not a domain name") {
			t.Errorf("From: %q: %q", c.from, got)
		}
	}
	if len(e.q.msgs) != 0 {
		t.Fatalf("%d messages queued", len(e.q.msgs))
	}
	// A two-letter top label is a domain (a country code's).
	e.dns.Add(t, `x.io. 300 IN TXT "v=spf1 ip4:127.0.0.182 -all"`)
	msg := strings.Replace(message("a@x.io", "two"), "From: Sender <a@x.io>", "From: a@x.io", 1)
	if got := e.send(t, "client.test", "a@x.io", msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("From: a@x.io: %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "spf=pass smtp.mailfrom=x.io", "header.from=x.io")

	// The SPF identities: a record published at the one-letter name is
	// never asked for.
	e.dns.Add(t, `x.y. 300 IN TXT "v=spf1 ip4:127.0.0.182 -all"`, `h.z. 300 IN TXT "v=spf1 ip4:127.0.0.182 -all"`)
	for i, c := range []struct{ helo, from string }{
		{"client.test", "a@x.y"},
		{"h.z", "a@client.test"},
		{"h.z", ""},
	} {
		msg := message("a@x.io", "spf"+string(rune('a'+i))) // no DMARC policy
		if got := e.send(t, c.helo, c.from, msg); !strings.HasPrefix(got, "250") {
			t.Fatalf("HELO %s MAIL FROM:<%s>: %q", c.helo, c.from, got)
		}
		_, body := e.q.last(t)
		ar := authResults(t, body)
		if c.from == "a@x.y" {
			wantAll(t, ar, "spf=none (no domain to check) smtp.mailfrom=x.y")
		} else {
			wantAll(t, ar, "spf=none (no domain to check) smtp.helo=h.z")
		}
		if strings.Contains(ar, "spf=pass smtp.mailfrom=x.y") || strings.Contains(ar, "spf=pass smtp.helo=h.z") {
			t.Errorf("a one-letter top label asked for SPF:\n%s", ar)
		}
	}
}
