package msgauth

import (
	"strings"
	"testing"
)

// rt19 fixc F1 (EDGE-1, RFC 7489 §6.6.1): a From: field that is not an
// RFC 5322 mailbox-list — an '@' in a display name outside quotes or
// angle brackets, two addresses without a comma, a group, a folded second
// "From:" — gives no single author domain and is refused where the policy
// is followed. Before, the last address was taken (client.test, SPF pass,
// aligned) and the message got 250 while a reader shows reject.test.
func TestFromNotAMailboxListRefused(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, from := range []string{
		"ceo@reject.test <a@client.test>",
		"x@reject.test a@client.test",
		"x@reject.test: a@client.test;",
		"x@reject.test\r\n From: a@client.test",
		"\"ceo\" x@reject.test <a@client.test>",
		"ceo <x@reject.test> <a@client.test>",
		"<x@reject.test> a@client.test",
		"ceo (c) @reject.test <a@client.test>",
		"broken \"quote <a@client.test>",
		"Team: a@client.test;",
		// rt19 fixg F1: a display name or comment that shows another
		// address once decoded, an encoded word in an addr-spec.
		"=?utf-8?q?ceo=40reject.test_=3Cceo=40reject.test=3E?= <a@client.test>",
		"\"ceo@reject.test\" <a@client.test>",
		"a@client.test (a@reject.test)",
		"=?utf-8?q?=3Cceo=40reject.test=3E?=@client.test",
	} {
		msg := strings.Replace(message("a@client.test", "strict"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		got := e.send(t, "client.test", "a@client.test", msg)
		if !strings.HasPrefix(got, "550 5.7.1 message refused: DMARC needs one author domain in From:") {
			t.Errorf("From: %q: %q", from, got)
		}
	}
	if len(e.q.msgs) != 0 {
		t.Errorf("%d messages queued", len(e.q.msgs))
	}
	// Well-formed forms still name their author domain.
	for i, c := range []struct{ from, ar string }{
		{"Sender <a@client.test>", "header.from=client.test"},
		{"\"Doe, John\" <a@client.test>", "header.from=client.test"},
		{"=?utf-8?q?Doe=2C_J=C3=B6rg?= <a@client.test>", "header.from=client.test"},
		{"John Q. Public <a@client.test>", "header.from=client.test"},
		{"a@client.test (at work)", "header.from=client.test"},
		{"=?utf-8?q?J=C3=B6rg?= <a@client.test>", "header.from=client.test"},
		{"a@client.test, \"b\" <b@CLIENT.test.>", "header.from=client.test"},
		{"Sender\r\n <a@client.test>", "header.from=client.test"},
		{"Sender <a@client.test>, ", "header.from=client.test"}, // obs-mbox-list: an empty element
	} {
		msg := strings.Replace(message("a@client.test", "ok"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+c.from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "250") {
			t.Errorf("From: %q: %q", c.from, got)
			continue
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), c.ar)
	}
}

// rt20b-F1, F3, F2 (EDGE-1) over SMTP: a display name in a charset a
// reader decodes (UTF-16, UTF-32, UTF-7), in one not decoded here, or
// with a compatibility form of '@' that shows reject.test is refused,
// the reason naming the address as given; the author's own address as
// its name, in the quotes a client puts around it, is accepted.
func TestFromShownAddressOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	for i, c := range []struct{ from, why string }{
		{"=?utf-16?b?/v8AYwBlAG8AQAByAGUAagBlAGMAdAAuAHQAZQBzAHQ=?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"=?utf-16be?b?AGMAZQBvAEAAcgBlAGoAZQBjAHQALgB0AGUAcwB0?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"=?utf-7?q?ceo+AEA-reject.test?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"=?x-klingon?q?ceo?= <a@client.test>", "a charset not decoded here"},
		{"ceo\uff20reject.test <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"Bank Security ceo\ufe6breject.test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"=?utf-8?q?ceo=EF=BC=A0reject.test?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"'ceo@reject.test'\" <a@client.test>", "another domain at 'ceo@reject.test')"},
		// rt20e-F1: white space around '@' and dots set aside.
		{"\"ceo @ reject . test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo@\" =?utf-8?q?reject.test?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"a@client.test (ceo\u3000@\u3000reject.test)", "a comment that shows an address at 'ceo@reject.test'"},
		// rt20e-F2: raw bytes not UTF-8 (Shift_JIS, GB2312 '＠').
		{"\"ceo\x81\x97reject.test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo\xa3\xc0reject\xa3\xaetest\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		// rt20e-F3: a quoted local part holding an address.
		{"Boss <\"ceo@reject.test\"@client.test>", "a quoted local part that shows an address"},
		// rt20e-F4: the address named without the marks around it.
		{"\"\u201cceo@reject.test\u201d\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		// rt20g-F1: malformed encoded words read as lenient readers do.
		{"=?utf-8?b?Y2VvQHJlamVjdC50ZXN0=ZZ?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"=?utf-8?q?ceo=40reject.test ?= <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"=?utf-8?q?ceo=40reject.\r\n test?= <a@client.test>", "another domain at 'ceo@reject"},
		// rt20g-F3, as the README says: refused whatever the domains'
		// policies (none.test p=none, client.test none).
		{"\"ceo@none.test\" <a@client.test>", "another domain at 'ceo@none.test'"},
		{"\"'john@none.test' via Group\" <a@client.test>", "another domain at 'john@none.test'"},
		// fromfix21: junk after the top label is cut away, not taken
		// for a domain that is none; an invisible mark before a label
		// set aside.
		{"\"ceo@reject.test.-\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo@reject.test.1\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo@reject.test._\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"a@client.test (ceo@reject.test.1)", "a comment that shows an address at 'ceo@reject.test'"},
		{"\"ceo@reject.test\".1 <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo@reject.\u034ftest\" <a@client.test>", "another domain at 'ceo@reject."},
		{"\"ceo@reject.\ufe0ftest\" <a@client.test>", "another domain at 'ceo@reject."},
		// A quoted string joined to the next word, shown with a space
		// between them; ideographic full stops are dots.
		{"\"ceo@reject.test\"x.client.test <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo@reject.test\".client.test <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo @ reject\"(x)\".test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo \u034f@ reject.test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo @ reject\u3002test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
		{"\"ceo @ reject\uff61test\" <a@client.test>", "another domain at 'ceo@reject.test'"},
	} {
		msg := strings.Replace(message("a@client.test", "shown"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+c.from, 1)
		got := e.send(t, "client.test", "a@client.test", msg)
		if !strings.HasPrefix(got, "550 5.7.1 message refused: DMARC needs one author domain in From:") || !strings.Contains(got, c.why) {
			t.Errorf("From: %q: %q, want a refusal saying %q", c.from, got, c.why)
		}
	}
	if len(e.q.msgs) != 0 {
		t.Errorf("%d messages queued", len(e.q.msgs))
	}
	for i, from := range []string{
		"\"'a@client.test'\" <a@client.test>",
		"\"<A@Client.Test>\" <a@client.test>",
		"=?utf-16?b?/v8ASgD2AHIAZw==?= <a@client.test>",
		"\"\u201ca@client.test\u201d\" <a@client.test>",
		"\"\u300ca@client.test\u300d\" <a@client.test>",
		"\"Meet @ noon\" <a@client.test>",
		"J\xf6rg <a@client.test>",
		// rt20g-F2: an '@' before a number or after a symbol alone.
		"\"Webinar @ 3.30 PM\" <a@client.test>",
		"\"Sales @ v2.0\" <a@client.test>",
		"\"Jane Doe | @jane.doe\" <a@client.test>",
		// rt20g-F4: the author's organisational domain.
		"\"support@mail.client.test\" <a@client.test>",
		// fromfix21: a number or version stays none, whatever follows.
		"\"Price @ 9.99\" <a@client.test>",
		"\"Meet @ 3.30pm\" <a@client.test>",
		"\"Release @ v2.0.1\" <a@client.test>",
		"\"Price @ 9.99.-\" <a@client.test>",
	} {
		msg := strings.Replace(message("a@client.test", "own"+string(rune('a'+i))), "From: Sender <a@client.test>", "From: "+from, 1)
		if got := e.send(t, "client.test", "a@client.test", msg); !strings.HasPrefix(got, "250") {
			t.Errorf("From: %q: %q", from, got)
			continue
		}
		_, body := e.q.last(t)
		wantAll(t, authResults(t, body), "header.from=client.test")
	}
}
