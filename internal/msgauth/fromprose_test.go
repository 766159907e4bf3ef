package msgauth

import (
	"strings"
	"testing"
)

// rt21b L2, L3 (EDGE-1) over SMTP: a display name that shows no address
// — prose around an '@' ("Bob @ St. Mary's"), raw ISO-2022-JP in a
// quoted string or comment — names its author; a possessive after a
// shown address, or a JIS X 0208 '＠', still shows one and is refused.
func TestFromProseIsNoAddressOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, from := range []string{
		"\"Bob @ St. Mary's\" <a@client.test>",
		"\"Dr. Jane Doe, M.D. @ St. Mary's Hospital\" <a@client.test>",
		"\"Jo @ Mr. Smith's\" <a@client.test>",
		"\"Bob @ St. Mary\u2019s\" <a@client.test>",
		"\"Sam @ N.Y.C.\" <a@client.test>",
		"\"Bob @ Mary's Diner\" <a@client.test>",
		"\"\x1b$B$3$s$K$A$O\x1b(B\" <a@client.test>",
		"\"\x1b$B0@Ab\x1b(B\" <a@client.test>",
		"a@client.test (\x1b$B$3$s$K$A$O\x1b(B)",
		"\"a@client.test's\" <a@client.test>",
	} {
		msg := strings.Replace(message("a@client.test", "prose"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "250") {
			t.Errorf("From: %q: %q", from, got)
			continue
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "header.from=client.test")
	}
	n := len(e.q.msgs)
	for i, c := range []struct{ from, why string }{
		{"\"ceo@reject.test's\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo @ reject.test\u2019s\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo\x1b$B!w\x1b(Breject.test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"a@client.test (ceo\x1b$B!w\x1b(Breject.test)", "a comment that shows an address at 'ceo@reject.test'"},
		{"\"J. Smith @ U.S. Office\" <a@client.test>", "another domain at 'J.Smith@U.S.Office'"},
		{"\"a\x1b[2Jb\" <a@client.test>", "a control character"},
		{"\"ceo\x1b$B !w\x1b(Breject.test\" <a@client.test>", "ISO-2022-JP text that is not JIS X 0208 characters at "},
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

// rt21b L5 (EDGE-1): an author domain whose last label does not start
// with a letter — IP-address text without brackets — is no domain name,
// as a single-label one is not: refused, never asked for a DMARC record
// nor written as header.from. An address literal keeps its result.
func TestFromIPTextIsNoDomainOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, c := range []struct{ from, domain string }{
		{"a@127.0.0.1", "127.0.0.1"},
		{"a@999.999.999.999", "999.999.999.999"},
		{"a@0x7f.1", "0x7f.1"},
		{"Sender <a@127.0.0.1.>", "127.0.0.1."},
		{"a@example.1test", "example.1test"},
		{"a@localhost", "localhost"},
	} {
		msg := strings.Replace(message("a@client.test", "ip"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+c.from, 1)
		got := e.send(t, "client.test", "a@client.test", msg)
		if !strings.HasPrefix(got, "550 5.7.1 message refused: DMARC needs one author domain in From: (From: domain '"+c.domain+"' is not a domain name") {
			t.Errorf("From: %q: %q", c.from, got)
		}
	}
	if len(e.q.msgs) != 0 {
		t.Errorf("%d messages queued", len(e.q.msgs))
	}
	msg := strings.Replace(message("a@client.test", "literal"), "From: Sender <a@client.test>", "From: a@[127.0.0.1]", 1)
	if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("From: a@[127.0.0.1]: %q", got)
	}
	_, body := e.q.last(t)
	wantAll(t, authResults(t, body), "dmarc=none (From: address literal: no DMARC policy)")
}

// rt24b F4 (EDGE-1) over SMTP: a display name whose shown domain has
// several labels but a top label that is no top-level domain ("Sales @
// St. Louis", "Alerts @ prod.db") shows no address and names its
// author; one that shows one of the organisation's own domains
// (SetOwnDomains: corp.lan here, whose top label is no top-level
// domain) is refused, also written with a look-alike dot.
func TestFromProseWithoutTopLevelDomainOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, from := range []string{
		"\"Sales @ St. Louis\" <a@client.test>",
		"\"Lunch @ Ft. Worth\" <a@client.test>",
		"\"Events @ Mt. Hood\" <a@client.test>",
		"\"Alerts @ prod.db\" <a@client.test>",
	} {
		msg := strings.Replace(message("a@client.test", "tld"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "250") {
			t.Errorf("From: %q: %q", from, got)
			continue
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "header.from=client.test")
	}
	n := len(e.q.msgs)
	for i, c := range []struct{ from, at string }{
		{"\"ceo @ corp.lan\" <a@client.test>", "ceo@corp.lan"},
		{"\"ceo@hr.corp.lan\" <a@client.test>", "ceo@hr.corp.lan"},
		{"\"ceo@corp\ua4f8lan\" <a@client.test>", "ceo@corp.lan"},
		{"\"ceo@example\ua4f8test\" <a@client.test>", "ceo@example.test"},
		{"\"ceo@reject\u0660test\" <a@client.test>", "ceo@reject.test"},
	} {
		msg := strings.Replace(message("a@client.test", "own"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+c.from, 1)
		got := e.send(t, "client.test", "a@client.test", msg)
		if !strings.HasPrefix(got, "550 5.7.1 ") || !strings.Contains(got, "shows an address of another domain at '"+c.at+"'") {
			t.Errorf("From: %q: %q, want a refusal at %q", c.from, got, c.at)
		}
	}
	if len(e.q.msgs) != n {
		t.Errorf("%d messages queued", len(e.q.msgs)-n)
	}
}
