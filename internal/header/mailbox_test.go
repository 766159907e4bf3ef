package header

import (
	"net/mail"
	"strings"
	"testing"
)

// The author a DMARC check keys on (EDGE-1, RFC 7489 §6.6.1): only an
// RFC 5322 mailbox-list names one; where a reader could show another
// author than a lenient parser picks, there is none.
func TestMailboxes(t *testing.T) {
	for v, want := range map[string]string{
		"a@x.test":                             "x.test",
		" Sender <a@x.test>\r\n":               "x.test",
		"\"Doe, John\" <a@x.test>":             "x.test",
		"\"J. Doe (work)\" <a@x.test>":         "x.test",
		"=?utf-8?q?Doe=2C_John?= <a@x.test>":   "x.test",
		"=?utf-8?b?SsO2cmc=?= <a@x.test>":      "x.test",
		"\"a @ b\" <a@x.test>":                 "x.test",
		"a@x.test (=?utf-8?q?J=C3=B6rg?=)":     "x.test",
		"John Q. Public <a@x.test>":            "x.test",
		"=?utf-8?q?J=C3=B6rg?= <a@x.test.>":    "x.test.",
		"Jörg <j@Bücher.test>":                 "Bücher.test",
		"\"a b\"@x.test":                       "x.test",
		"a.b@x.test":                           "x.test",
		"a@[192.0.2.1]":                        "[192.0.2.1]",
		"S <a@[IPv6:2001:db8::1]>":             "[IPv6:2001:db8::1]",
		"Sender\r\n <a@x.test>\r\n":            "x.test",
		"a@x.test, ":                           "x.test",
		"(c (nested) \\) ) <a@x.test> (after)": "x.test",
		"a@x.test, b@y.test":                   "x.test y.test",
		"\"q\\\"(\" (c(d)) <a@x.test>":         "x.test",
		"bob@\"x); dmarc=pass; (y\"":           "\"x); dmarc=pass; (y\"",
		"\"a@x.test\" <a@x.test>":              "x.test", // the address as its own name: one author
		"\"Ann (a@X.Test.)\" <a@x.test>":       "x.test",
		// rt20b-F2: the author's own address as its name, quoted or
		// bracketed as clients write it, case and IDN form aside.
		"\"'alice@evil.test'\" <alice@evil.test>":          "evil.test",
		"\"<Alice@EVIL.test>\" <alice@evil.test>":          "evil.test",
		"\"[alice@evil.test]\" <alice@evil.test>":          "evil.test",
		"\"alice@bücher.test\" <alice@xn--bcher-kva.test>": "xn--bcher-kva.test",
		"alice\uff20evil.test <alice@evil.test>":           "evil.test",
		// rt20b-F1: a name decoded in its charset, not byte for byte:
		// '@' (0x40) as a byte of a CJK character shows no address.
		"=?utf-16?b?/v8ASgD2AHIAZw==?= <a@x.test>":      "x.test",
		"=?iso-2022-jp?b?GyRCNEA0QRsoQg==?= <a@x.test>": "x.test",
		"=?big5?b?pEBh?= <a@x.test>":                    "x.test",
		"=?shift_jis?b?gUBh?= <a@x.test>":               "x.test",
		"=?utf-7?q?J+APY-rg?= <a@x.test>":               "x.test",
		// rt20e-F1: white space around an '@' without a dotted domain
		// shows no address; rt20e-F2: raw legacy bytes that show none.
		"\"Meet @ noon\" <a@x.test>":      "x.test",
		"J\xf6rg M\xfcller <a@x.test>":    "x.test",
		"\"\x93\xfa\x96{\" <a@x.test>":    "x.test",
		"Jörg Müller <a@x.test>":          "x.test",
		"山田太郎 <a@x.test>":                 "x.test",
		"=?utf-8?b?5bGx55Sw?= <a@x.test>": "x.test",
		// rt20e-F4: the author's own address in typographic quotes or
		// brackets is one author.
		"\"\u201ca@x.test\u201d\" <a@x.test>":                 "x.test",
		"\"\u2018a@x.test\u2019\" <a@x.test>":                 "x.test",
		"\"\u201ea@x.test\u201c\" <a@x.test>":                 "x.test",
		"\"\u00aba@x.test\u00bb\" <a@x.test>":                 "x.test",
		"\"\u2039a@x.test\u203a\" <a@x.test>":                 "x.test",
		"\"\u300ca@x.test\u300d\" <a@x.test>":                 "x.test",
		"\"\u300aa@x.test\u300b\" <a@x.test>":                 "x.test",
		"=?utf-8?q?=E2=80=9Ca=40x.test=E2=80=9D?= <a@x.test>": "x.test",
		// rt20g-F2: a domain whose top label does not start with a
		// letter is no domain (RFC 3696 §2), and a local part needs a
		// letter or digit: these show no address.
		"\"Webinar @ 3.30 PM\" <a@evil.test>":      "evil.test",
		"\"Lunch @ 12.30\" <a@evil.test>":          "evil.test",
		"\"Q3 results @ 10.00 CET\" <a@evil.test>": "evil.test",
		"\"Price @ 9.99\" <a@evil.test>":           "evil.test",
		"\"Sales @ v2.0\" <a@evil.test>":           "evil.test",
		"\"Meet @ 3.30pm\" <a@evil.test>":          "evil.test",
		"\"Jane Doe | @jane.doe\" <a@evil.test>":   "evil.test",
		"\"Price@9.99\" <a@evil.test>":             "evil.test",
		// rt20g-F4: an address of the author's organisational domain
		// (RFC 7489 §3.2, relaxed alignment) is the author's own.
		"\"support@evil.test\" <noreply@mail.evil.test>":      "mail.evil.test",
		"\"support@mail.evil.test\" <noreply@evil.test>":      "evil.test",
		"\"support@a.evil.test\" <noreply@b.evil.test>":       "b.evil.test",
		"\"support@example.co.uk\" <noreply@m.example.co.uk>": "m.example.co.uk",
		// rt20e-F5: Windows code page aliases.
		"=?cp932?b?gUBh?= <a@x.test>": "x.test",
		"=?cp950?b?pEBh?= <a@x.test>": "x.test",
		// fromfix21: a number after the '@' still shows no address,
		// whatever follows it; nor does a version.
		"\"Webinar @ 3.30 PM.\" <a@evil.test>": "evil.test",
		"\"Release @ v2.0.1\" <a@evil.test>":   "evil.test",
		"\"Price @ 9.99.-\" <a@evil.test>":     "evil.test",
		"\"Webinar\" \"@ 3.30\" <a@evil.test>": "evil.test",
		// Quotes and comments that part nothing joined.
		"\"alice@evil.test\" (Alice) <alice@evil.test>":     "evil.test",
		"\"Alice\" \"(alice@evil.test)\" <alice@evil.test>": "evil.test",
		// The author's own address, junk after it cut away.
		"\"a@evil.test.1\" <a@evil.test>": "evil.test",
	} {
		got, err := Mailboxes(v)
		var ds []string
		for _, m := range got {
			ds = append(ds, m.Domain)
		}
		if err != nil || strings.Join(ds, " ") != want {
			t.Errorf("Mailboxes(%q) = %v %v, want %s", v, got, err, want)
		}
	}
	for v, why := range map[string]string{
		"ceo@y.test <a@x.test>":        "text after the address",
		"x@y.test a@x.test":            "text after the address",
		"x@y.test: a@x.test;":          "text after the address",
		"team: a@x.test;":              "a group",
		"undisclosed-recipients:;":     "a group",
		"x@y.test\r\n From: a@x.test":  "text after the address",
		"\"ceo\" x@y.test <a@x.test>":  "an '@' outside quotes",
		"John Doe@y.test":              "an '@' outside quotes",
		"ceo <x@y.test> <a@x.test>":    "text after the address",
		"broken \"quote <a@x.test>":    "an unterminated quoted string",
		"(unterminated <a@x.test>":     "an unterminated comment",
		"<x@y.test>\ra@x.test":         "a line break that is not folding",
		"<x@y.test>\r\nFrom: a@x.test": "a line break that is not folding",
		"<@r.test:a@x.test>":           "a source route",
		"<a@x.test":                    "no '>'",
		"undisclosed":                  "without a domain",
		"a@":                           "without a domain",
		"":                             "no address",
		" , ,":                         "no address",
		"a@x.test; b@y.test":           "text after the address",
		"@x.test":                      "an '@' without a local part",
		"a@[1.2.3.4":                   "an unterminated domain literal",
		"S <a@x.test> \x00":            "text after the address",
		"S\x01 <a@x.test>":             "an unexpected character",
		"a..b@x.test":                  "an '@' outside quotes",
		// rt19 fixg F1: what a reader shows as the author, decoded
		// (RFC 2047 words in a phrase or comment), is not another address.
		"=?utf-8?q?ceo=40rej.test_=3Cceo=40rej.test=3E?= <a@x.test>": "a display name that shows an address",
		"=?iso-8859-1?B?Y2VvQHJlai50ZXN0?= <a@x.test>":               "a display name that shows an address",
		"=?x-unknown?q?ceo=40rej.test?= <a@x.test>":                  "in a charset not decoded here",
		"\"ceo@y.test\" <a@x.test>":                                  "a display name that shows an address",
		"\"<ceo@y.test>\" <a@x.test>":                                "a display name that shows an address",
		"a@x.test (a@y.test)":                                        "a comment that shows an address",
		"(a@y.test) <a@x.test>":                                      "a comment that shows an address",
		"S <a(c (ceo@y.test))@x.test>":                               "a comment that shows an address",
		"a@x.test (=?utf-8?q?a=40y.test?=)":                          "a comment that shows an address",
		"=?utf-8?q?=3Cceo=40rej.test=3E?=@x.test":                    "an encoded word in an address",
		// RFC 2047 §6.2: white space between two encoded words is not
		// shown, so a reader joins them ("ceo" "@rej.test").
		"=?utf-8?q?ceo?= =?utf-8?q?=40rej.test?= <a@x.test>":      "a display name that shows an address",
		"=?utf-8?q?ceo?=\r\n =?utf-8?b?QHJlai50ZXN0?= <a@x.test>": "a display name that shows an address",
		// Decoded as leniently as a reader does: base64 without its
		// padding, a Q word with a stray '=' (mime.WordDecoder keeps
		// both as written, and shows no address).
		// (rt24b F4: "ceo@rej.tes" names no domain now, its top label
		// no top-level domain; "ceo@rej.test " unpadded instead.)
		"=?utf-8?b?Y2VvQHJlai50ZXN0IA?= <a@x.test>":        "a display name that shows an address",
		"=?utf-8?q?ceo=40rej.test=ZZ?= <a@x.test>":         "a display name that shows an address",
		"a@x.test (=?utf-8?q?a?=\t =?utf-8?q?=40y.test?=)": "a comment that shows an address",
		"S <a@=?utf-8?q?y.test?=>":                         "an encoded word in an address",
		// rt20b-F1: decoded in the charsets readers decode; a charset
		// not decoded here may show anything, an address included.
		"=?utf-16?b?/v8AYwBlAG8AQABiAGEAbgBrAC4AdABlAHMAdA==?= <a@evil.test>":                                     "a display name that shows an address",
		"=?utf-16be?b?AGMAZQBvAEAAYgBhAG4AawAuAHQAZQBzAHQ=?= <a@evil.test>":                                       "a display name that shows an address",
		"=?utf-16?b?AGMAZQBvAEAAYgBhAG4AawAuAHQAZQBzAHQ=?= <a@evil.test>":                                         "a display name that shows an address",
		"=?utf-16?b?YwBlAG8AQABiAGEAbgBrAC4AdABlAHMAdAA=?= <a@evil.test>":                                         "a display name that shows an address",
		"=?utf-16le?b?YwBlAG8AQABiAGEAbgBrAC4AdABlAHMAdAA=?= <a@evil.test>":                                       "a display name that shows an address",
		"=?utf-32be?b?AAAAYwAAAGUAAABvAAAAQAAAAGIAAABhAAAAbgAAAGsAAAAuAAAAdAAAAGUAAABzAAAAdA==?= <a@evil.test>":   "a display name that shows an address",
		"=?utf-32?b?AAD+/wAAAGMAAABlAAAAbwAAAEAAAABiAAAAYQAAAG4AAABrAAAALgAAAHQAAABlAAAAcwAAAHQ=?= <a@evil.test>": "a display name that shows an address",
		"=?utf-7?q?ceo+AEA-bank.test?= <a@evil.test>":                                                             "a display name that shows an address",
		"=?UTF-7*en?q?ceo+AEA-bank.test?= <a@evil.test>":                                                          "a display name that shows an address",
		"=?x-klingon?q?Kahless?= <a@evil.test>":                                                                   "a charset",
		"a@evil.test (=?x-klingon?q?Kahless?=)":                                                                   "a charset",
		"a@evil.test (=?utf-7?q?ceo+AEA-bank.test?=)":                                                             "a comment that shows an address",
		// rt20b-F3: compatibility forms of '@' (and of the domain's
		// letters and dots) are shown as '@': folded (NFKC) first.
		"ceo\uff20bank.test <a@evil.test>":                   "a display name that shows an address",
		"\"Bank Security ceo\ufe6bbank.test\" <a@evil.test>": "a display name that shows an address",
		"=?utf-8?q?ceo=EF=BC=A0bank.test?= <a@evil.test>":    "a display name that shows an address",
		"ceo\uff20\uff42\uff41nk\uff0etest <a@evil.test>":    "a display name that shows an address",
		"a@evil.test (ceo\uff20bank.test)":                   "a comment that shows an address",
		// rt20b-F2: another domain stays refused, quotes or not.
		"\"'alice@bank.test'\" <alice@evil.test>":         "a display name that shows an address",
		"\"alice@evil.test.bank.test\" <alice@evil.test>": "a display name that shows an address",
		// rt20e-F1: RFC 5322 §3.4.1 allows white space around '@' and
		// the dots of a domain; a reader shows these as an address.
		"\"ceo @ bank.test\" <a@evil.test>":            "a display name that shows an address",
		"\"ceo@ bank.test\" <a@evil.test>":             "a display name that shows an address",
		"\"ceo @bank.test\" <a@evil.test>":             "a display name that shows an address",
		"\"ceo @ bank . test\" <a@evil.test>":          "a display name that shows an address",
		"\"ceo\t@\tbank.test\" <a@evil.test>":          "a display name that shows an address",
		"\"ceo\u00a0@\u00a0bank.test\" <a@evil.test>":  "a display name that shows an address",
		"\"ceo\u2003@\u2003bank.test\" <a@evil.test>":  "a display name that shows an address",
		"\"ceo\u3000@\u3000bank.test\" <a@evil.test>":  "a display name that shows an address",
		"\"ceo \uff20 bank.test\" <a@evil.test>":       "a display name that shows an address",
		"\"ceo \ufe6b bank.test\" <a@evil.test>":       "a display name that shows an address",
		"=?utf-8?q?ceo_=40_bank.test?= <a@evil.test>":  "a display name that shows an address",
		"\"ceo@\" \"bank.test\" <a@evil.test>":         "a display name that shows an address",
		"\"ceo@\" =?utf-8?q?bank.test?= <a@evil.test>": "a display name that shows an address",
		"\"ceo @\r\n bank.test\" <a@evil.test>":        "a display name that shows an address",
		"a@evil.test (ceo @ bank.test)":                "a comment that shows an address",
		// rt20e-F2: raw bytes that are not UTF-8 read as a reader
		// might (Shift_JIS 0x81 0x97 is U+FF20; GB2312 0xA3 0xC0 too).
		"\"ceo\x81\x97bank.test\" <a@evil.test>":              "a display name that shows an address",
		"\"ceo\xa3\xc0bank\xa3\xaetest\" <a@evil.test>":       "a display name that shows an address",
		"a@evil.test (ceo\x81\x97bank.test)":                  "a comment that shows an address",
		"=?unknown-8bit?q?ceo=81=97bank.test?= <a@evil.test>": "a display name that shows an address",
		// rt20e-F3: a quoted local part holding an address.
		"Boss <\"ceo@bank.test\"@evil.test>": "a quoted local part that shows an address",
		"<\"ceo@bank.test\"@evil.test>":      "a quoted local part that shows an address",
		"\"ceo@bank.test\"@evil.test":        "a quoted local part that shows an address",
		// rt20g-F1: encoded words a strict reader does not take as
		// such, read as lenient readers decode them: base64 keeping only
		// its alphabet up to the padding, Q with white space or '?' in
		// its text, a word folded inside, a word opened inside another.
		"=?utf-8?b?Y2VvQGJhbmsudGVzdCA=ZZ?= <a@evil.test>":        "a display name that shows an address",
		"=?utf-8?b?Y2VvQGJhbmsudGVzdA==x?= <a@evil.test>":         "a display name that shows an address",
		"=?utf-8?q?ceo=40bank.test ?= <a@evil.test>":              "a display name that shows an address",
		"=?utf-8?q?ceo=40bank.test\t?= <a@evil.test>":             "a display name that shows an address",
		"=?utf-8?q?ceo=40bank.testx.test?= <a@evil.test>":         "a display name that shows an address", // rt24b F4: bank.testx names none
		"=?utf-8?q?ceo=40bank.test?x?= <a@evil.test>":             "a display name that shows an address",
		"=?utf-8?q?ceo=40bank.test?_?= <a@evil.test>":             "a display name that shows an address",
		"=?utf-8?q?ceo?x=40bank.test?= <a@evil.test>":             "a display name that shows an address",
		"a@evil.test (=?utf-8?q?ceo=40bank.test ?=)":              "a comment that shows an address",
		"=?utf-8?b?Y2VvQGJh bmsudGVzdA==?= <a@evil.test>":         "a display name that shows an address",
		"=?utf-8?b?Y2VvQGJhbmsudGVzdA.?= <a@evil.test>":           "a display name that shows an address",
		"=?utf-8?q?ceo=40bank.\r\n test?= <a@evil.test>":          "a display name that shows an address",
		"=?utf-8?q?ceo=4?utf-8?q?ceo=40bank.test?= <a@evil.test>": "a display name that shows an address",
		"=?utf-8?b?Y2VvQGV4YW1wbGUub3Jn=ZZ?= <a@evil.test>":       "a display name that shows an address",
		// rt20g-F2: a spoof keeps being one with digits about.
		"\"ceo @ bank2.test\" <a@evil.test>":      "a display name that shows an address",
		"\"12.30 ceo @ bank.test\" <a@evil.test>": "a display name that shows an address",
		"\"ceo @ 3.30.bank.test\" <a@evil.test>":  "a display name that shows an address",
		"\"_x @ bank.test\" <a@evil.test>":        "a display name that shows an address",
		"\"ceo@bank.xn--p1ai\" <a@evil.test>":     "a display name that shows an address",
		"\"ceo@bank.рф\" <a@evil.test>":           "a display name that shows an address",
		// rt20g-F4: another organisational domain stays refused.
		"\"ceo@bank.test\" <a@bank.test.evil.test>": "a display name that shows an address",
		"\"ceo@other.co.uk\" <a@example.co.uk>":     "a display name that shows an address",
		"\"ceo@bank.github.io\" <a@evil.github.io>": "a display name that shows an address",
		// fromfix21 (1): junk after the top label does not make the
		// shown domain none: it is cut back to its last label that
		// starts with a letter (an invisible mark before it set aside).
		"\"ceo@bank.test.-\" <a@evil.test>":       "a display name that shows an address",
		"\"ceo@bank.test.1\" <a@evil.test>":       "a display name that shows an address",
		"\"ceo@bank.test._\" <a@evil.test>":       "a display name that shows an address",
		"\"ceo@bank.test.=\" <a@evil.test>":       "a display name that shows an address",
		"\"ceo@bank.test.#\" <a@evil.test>":       "a display name that shows an address",
		"\"ceo @ bank.test.1\" <a@evil.test>":     "a display name that shows an address",
		"a@evil.test (ceo@bank.test.1)":           "a comment that shows an address",
		"\"ceo@bank.test\".1 <a@evil.test>":       "a display name that shows an address",
		"\"ceo@bank.\u034ftest\" <a@evil.test>":   "a display name that shows an address",
		"\"ceo@bank.\ufe0ftest\" <a@evil.test>":   "a display name that shows an address",
		"\"ceo@bank.\u200btest\" <a@evil.test>":   "a display name that shows an address",
		"\"ceo@bank.test.\u034f1\" <a@evil.test>": "a display name that shows an address",
		// An invisible mark (Mn, Me) beside white space around '@' or
		// a dot is set aside with it, as a format character is.
		"\"ceo \u034f@ bank.test\" <a@evil.test>":   "a display name that shows an address",
		"\"ceo @\u034f bank.test\" <a@evil.test>":   "a display name that shows an address",
		"\"ceo @ bank \ufe0f. test\" <a@evil.test>": "a display name that shows an address",
		// fromfix21 (2): a quoted string joined to the next word is
		// shown with a space between them (net/mail: "ceo@bank.test
		// x.evil.test"), not as one domain of the author's.
		"\"ceo@bank.test\"x.evil.test <a@evil.test>":     "a display name that shows an address",
		"\"ceo@bank.test\".evil.test <a@evil.test>":      "a display name that shows an address",
		"\"ceo@bank.test\"\"x.evil.test\" <a@evil.test>": "a display name that shows an address",
		// A comment in a name is dropped from it as readers drop it
		// (net/mail: "ceo @ bank .test").
		"\"ceo @ bank\"(x)\".test\" <a@evil.test>":               "a display name that shows an address",
		"\"ceo @ bank\" (x) \".test\" <a@evil.test>":             "a display name that shows an address",
		"\"ceo @ bank\"(x).test <a@evil.test>":                   "a display name that shows an address",
		"\"0@evil.co\"m<0@evil.com>":                             "a display name that shows an address", // rt24b F4: was evil.tes, no domain
		"\"ceo@bank.test\"=?utf-8?q?x.evil.test?= <a@evil.test>": "a display name that shows an address",
		// fromfix21 (3): ideographic full stops are dots (UTS 46).
		"\"ceo @ bank\u3002test\" <a@evil.test>": "a display name that shows an address",
		"\"ceo @ bank\uff61test\" <a@evil.test>": "a display name that shows an address",
		"\"ceo @ bank\uff0etest\" <a@evil.test>": "a display name that shows an address",
		"a@evil.test (ceo @ bank\u3002test)":     "a comment that shows an address",
		// rt20e-F5: charsets not decoded here.
		"=?iso-2022-jp-2?q?x?= <a@evil.test>": "a charset",
		"=?viscii?q?x?= <a@evil.test>":        "a charset",
	} {
		got, err := Mailboxes(v)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Mailboxes(%q) = %v %v, want an error saying %q", v, got, err, why)
		}
	}
}

// rt20b-F2: the reason names the address shown, as given, without the
// quotes around it.
func TestMailboxErrorShowsAddress(t *testing.T) {
	for v, at := range map[string]string{
		"\"'ceo@bank.test'\" <alice@evil.test>":                               "ceo@bank.test",
		"=?utf-16?b?/v8AYwBlAG8AQABiAGEAbgBrAC4AdABlAHMAdA==?= <a@evil.test>": "ceo@bank.test",
		"ceo\uff20bank.test <a@evil.test>":                                    "ceo@bank.test",
		"=?x-klingon?q?Kahless?= <a@evil.test>":                               "=?x-klingon?q?Kahless?=",
		"\"ceo @ bank . test\" <a@evil.test>":                                 "ceo@bank.test",
		"\"\u201ca@x.test\u201d\" <a@evil.test>":                              "a@x.test",
		"\"\u300cceo@bank.test\u300d\" <a@evil.test>":                         "ceo@bank.test",
		"Boss <\"ceo@bank.test\"@evil.test>":                                  "\"ceo@bank.test\"@evil.test",
		// fromfix21: the domain cut back to its top label; the quoted
		// string read as a word of its own; a full stop a dot.
		"\"ceo@bank.test.1\" <a@evil.test>":          "ceo@bank.test",
		"\"ceo@bank.test\"x.evil.test <a@evil.test>": "ceo@bank.test",
		"\"ceo @ bank\uff61test\" <a@evil.test>":     "ceo@bank.test",
	} {
		_, err := Mailboxes(v)
		me, ok := err.(*MailboxError)
		if !ok || me.At != at {
			t.Errorf("Mailboxes(%q) = %#v, want an error at %q", v, err, at)
		}
	}
}

// FuzzMailboxes: total; every mailbox has a local part and a domain;
// where net/mail also reads the field, it finds the same domains.
func FuzzMailboxes(f *testing.F) {
	for _, s := range []string{"a@example.org.", "A <a@[IPv6:2001:db8::1]>", "a@x.test, b@y.test", "team: a@x.test;",
		`"q\"(" (c(d)) <a@x.test>`, "a@[1.2.3.4", "<<a@b>>,", "(((", `"\`, "ceo@x.test <a@y.test>", "a@x.test\r\n b@y.test",
		"=?utf-8?q?ceo=40rej.test_=3Cceo=40rej.test=3E?= <a@good.test>", "a@good.test (a@rej.test)", "=?utf-8?q?=3Cceo=40rej.test=3E?=@good.test",
		"=?utf-8?b?Y2VvQHJlai50ZXN0?= <a@good.test>", "\"Doe, John\" <a@x.test>",
		"=?utf-16?b?/v8AYwBlAG8AQABiAGEAbgBrAC4AdABlAHMAdA==?= <a@evil.test>", "=?utf-7?q?ceo+AEA-bank.test?= <a@evil.test>",
		"ceo\uff20bank.test <a@evil.test>", "\"'alice@evil.test'\" <alice@evil.test>",
		// rt21b L2, L3: prose around an '@', an apostrophe after a
		// shown domain, raw ISO-2022-JP.
		"\"Bob @ St. Mary's\" <a@evil.test>", "\"Dr. Jane Doe, M.D. @ St. Mary\u2019s Hospital\" <a@evil.test>",
		"\"Sam @ N.Y.C.\" <a@evil.test>", "\"ceo@bank.com's\" <a@evil.test>", "\"ceo @ bank . com\u02bcs\" <a@evil.test>",
		"\"\x1b$B$3$s$K$A$O\x1b(B\" <a@evil.test>", "\"ceo\x1b$B!w\x1b(Bexample.org\" <a@evil.test>",
		"a@evil.test (\x1b$B0@Ab\x1b(B)", "\"ceo\x1b$B !w\x1b(Bbank.test\" <a@evil.test>",
		// bidi23: a JIS character's quote, backslash or parenthesis byte.
		"\"\x1b$B$\"$\\\x1b(B\" <a@evil.test> (\x1b$B$($)\x1b(B)", "\"\x1b$B$\"<ceo@bank.test>!\x1b(B\" <a@evil.test>",
		// rt22b M2: bidi overrides and isolates; a Hebrew name with a mark.
		"\"\u202egro.elpmaxe @ oec\" <a@evil.test>", "a@evil.test (\u202egro.elpmaxe @ oec)",
		"=?utf-8?q?=E2=80=AEgro.elpmaxe_=40_oec?= <a@evil.test>", "\"\u2067x\u2069 \u05d3\u05d5\u05d3\u200f\" <a@evil.test>",
		// bidi23: marks reordering Latin words; abbreviations; one label.
		"\"\u200forg \u200f. \u200fexample \u200f@ \u200fceo\" <a@evil.test>", "=?windows-1255?q?=FEorg_=FE._=FEexample_=FE=40_=FEceo?= <a@evil.test>",
		"\"Events @ Mt. St. Helen's\" <a@evil.test>", "\"Team@Acme\" <a@evil.test>", "\"n@ai\" <a@evil.test>",
		// rr23 F1, F2: a boundary neutral in a right-to-left name; a JIS
		// run holding a quote byte and an address a byte reader reads.
		"\"test\u00ad\u0661 \u200f. bank \u200f@ ceo\" <a@x.test>", "\"\x1b$B$\"<ceo@bank(x).test>$\"\x1b(B\" <a@evil.test>",
		// rr25 F1, F2: look-alike letters, junk after a domain.
		"\"ceo@bank.\u0441om\" <a@evil.test>", "\"ceo@corp.l\u0430n\" <a@evil.test>", "\"ceo@bank.com1\" <a@evil.test>",
		"\"ceo@corp.lan-\" <a@evil.test>", "\"service@paypal.com.verify\" <a@evil.test>", "\"Sales @ St. Louis\" <a@evil.test>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := Mailboxes(v)
		// The organisation's own domains only add refusals (MailboxesOwn:
		// one shown is an address whatever its top label).
		if _, errOwn := MailboxesOwn(v, func(d string) bool { return d == "corp.lan" }); errOwn == nil && err != nil {
			t.Fatalf("%q: refused (%v), but accepted with own domains", v, err)
		}
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("%q: mailboxes with an error", v)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q: no mailbox and no error", v)
		}
		for _, m := range got {
			if m.Local == "" || m.Domain == "" {
				t.Fatalf("%q: %+v", v, m)
			}
		}
		list, err := mail.ParseAddressList(v)
		if err != nil || len(list) != len(got) {
			return
		}
		for i, a := range list {
			// net/mail decodes the display name's encoded words as a
			// reader does: an accepted one shows no address of another
			// domain than the author's (its own address as its name is
			// one author, and so is one of its organisational domain).
			// Compatibility forms folded, quotes around an address
			// not taken for part of it, white space around '@' and
			// dots set aside (shownText.addresses).
			var name shownText
			name.view(a.Name)
			for _, shownAddr := range name.addresses(nil) {
				if !sameOrgDomain(shownAddr[strings.LastIndexByte(shownAddr, '@')+1:], got[i].Domain) {
					t.Fatalf("%q: accepted, and a reader shows the name %q", v, a.Name)
				}
			}
			if d := a.Address[strings.LastIndexByte(a.Address, '@')+1:]; !strings.EqualFold(d, got[i].Domain) {
				t.Fatalf("%q: net/mail reads domain %q, Mailboxes %q", v, d, got[i].Domain)
			}
		}
	})
}

// rt21b L2, L3 (EDGE-1): a display name is refused only where it shows
// an address. A shown domain is made of what a domain name can hold: an
// apostrophe (or U+2019, U+02BC, U+FF07) ends it, so "ceo@bank.test's"
// shows ceo@bank.test; a dot that ends a word ("St.", "M.D.") followed by
// white space and a word with an apostrophe ("Mary's") is prose, not a
// domain's dot; no top-level label is one character ("N.Y.C."). Raw
// ISO-2022-JP in a quoted string or comment (RFC 5322 §4 obs-qtext,
// obs-ctext) is text, read as a reader decodes it.
func TestMailboxesShowOnlyAddresses(t *testing.T) {
	for v, want := range map[string]string{
		"\"Bob @ St. Mary's\" <a@evil.test>":                         "evil.test",
		"\"Dr. Jane Doe, M.D. @ St. Mary's Hospital\" <a@evil.test>": "evil.test",
		"\"Jo @ Mr. Smith's\" <a@evil.test>":                         "evil.test",
		"\"Bob @ St. Mary\u2019s\" <a@evil.test>":                    "evil.test",
		"\"Bob @ St. Mary\u02bcs\" <a@evil.test>":                    "evil.test",
		"\"Bob @ St. Mary\uff07s\" <a@evil.test>":                    "evil.test",
		"\"Bob @ St. Jones' Hall\" <a@evil.test>":                    "evil.test",
		"\"Bob @ Mary's Diner\" <a@evil.test>":                       "evil.test",
		"a@evil.test (Bob @ St. Mary's)":                             "evil.test",
		"\"Sam @ N.Y.C.\" <a@evil.test>":                             "evil.test",
		"\"Bob @ St.Mary's\" <a@evil.test>":                          "evil.test", // rt24b F4: mary is no top-level domain
		"\"Sam @ N. Y. C.\" <a@evil.test>":                           "evil.test",
		"\"Ann @ U.K.\" <a@evil.test>":                               "evil.test",
		// The author's own address, a possessive or a word after it.
		"\"a@evil.test's\" <a@evil.test>":           "evil.test",
		"\"a@evil.test\u2019s desk\" <a@evil.test>": "evil.test",
		"\"a@evil.test/sales\" <a@evil.test>":       "evil.test",
		// Raw ISO-2022-JP (こんにちは; 粟曹 and 汗漢, whose JIS bytes
		// hold a 0x40).
		"\"\x1b$B$3$s$K$A$O\x1b(B\" <a@evil.test>":              "evil.test",
		"\"\x1b$B0@Ab\x1b(B\" <a@evil.test>":                    "evil.test",
		"\"\x1b$B4@4A\x1b(B\" <a@evil.test>":                    "evil.test",
		"\"\x1b$B$3$s\x1b(J \x1b$@$K$A$O\x1b(B\" <a@evil.test>": "evil.test",
		"a@evil.test (\x1b$B$3$s$K$A$O\x1b(B)":                  "evil.test",
		"\"Taro \x1b$B;3ED\x1b(B\" <a@evil.test>":               "evil.test",
		"\"\x1b$B$3$s\x1b(B\"@evil.test":                        "evil.test",
		// The author's own address, its '@' a JIS X 0208 one.
		"\"a\x1b$B!w\x1b(Bevil.test\" <a@evil.test>":       "evil.test",
		"\"\x1b(BJ\u00f6rg \x1b$B$3\x1b(B\" <a@evil.test>": "evil.test",
	} {
		got, err := Mailboxes(v)
		var ds []string
		for _, m := range got {
			ds = append(ds, m.Domain)
		}
		if err != nil || strings.Join(ds, " ") != want {
			t.Errorf("Mailboxes(%q) = %v %v, want %s", v, got, err, want)
		}
	}
	for v, at := range map[string]string{
		// What a domain can hold ends it: the address shown stays one.
		"\"ceo@bank.test's\" <a@evil.test>":         "ceo@bank.test",
		"\"ceo@bank.test\u2019s\" <a@evil.test>":    "ceo@bank.test",
		"\"ceo@bank.test\u02bcs\" <a@evil.test>":    "ceo@bank.test",
		"\"ceo@bank.test\uff07s\" <a@evil.test>":    "ceo@bank.test",
		"\"ceo @ bank.test's\" <a@evil.test>":       "ceo@bank.test",
		"\"ceo @ bank . test's\" <a@evil.test>":     "ceo@bank.test",
		"\"ceo @ bank .test's\" <a@evil.test>":      "ceo@bank.test",
		"\"ceo@bank.test/x\" <a@evil.test>":         "ceo@bank.test",
		"\"ceo@bank.test\u00a0x\" <a@evil.test>":    "ceo@bank.test",
		"a@evil.test (ceo@bank.test's)":             "ceo@bank.test",
		"\"J. Smith @ U.S. Office\" <a@evil.test>":  "J.Smith@U.S.Office",
		"\"ceo@bank.test.x\" <a@evil.test>":         "ceo@bank.test",
		"\"ceo@bank.co\" <a@evil.test>":             "ceo@bank.co",
		"\"ceo@col\u00b7legi.cat\" <a@evil.test>":   "ceo@col\u00b7legi.cat",
		"\"ceo @ col\u00b7legi.cat\" <a@evil.test>": "ceo@col\u00b7legi.cat",
		// ISO-2022-JP decoded: JIS X 0208's '＠' and '．' are '@' and
		// '.'; the bytes as a reader that does not decode shows them.
		"\"ceo\x1b$B!w\x1b(Bexample.org\" <a@evil.test>":              "ceo@example.org",
		"\"ceo\x1b$B!w\x1b(Bexample\x1b$B!%\x1b(Borg\" <a@evil.test>": "ceo@example.org",
		"a@evil.test (ceo\x1b$B!w\x1b(Bexample.org)":                  "ceo@example.org",
		"\"\x1b$Bceo@example.org.\x1b(B\" <a@evil.test>":              "$Bceo@example.org", // undecoded
		"\"\x1b(Bceo@example.org\" <a@evil.test>":                     "ceo@example.org",
		"\"\x1b$B#c#e#o!w#b#a#n#k!%#t#e#s#t\x1b(B\" <a@evil.test>":    "ceo@bank.test", // all fullwidth
		// ESC ( B changes nothing of the text after it, UTF-8 included.
		"\"\x1b(Bceo\uff20bank\" <a@evil.test>":                     "ceo@bank",
		"\"\x1b$B$3\x1b(Bceo\uff20bank\" <a@evil.test>":             "\u3053ceo@bank",
		"=?us-ascii?q?ceo=1B$B!w=1B=28Bexample.org?= <a@evil.test>": "ceo@example.org",
	} {
		_, err := Mailboxes(v)
		me, ok := err.(*MailboxError)
		if !ok || me.At != at {
			t.Errorf("Mailboxes(%q) = %#v, want an error at %q", v, err, at)
		}
	}
	// Other escape sequences and C0 controls stay refused: those of
	// RFC 1468 alone are ISO-2022-JP as every reader decodes it (JIS X
	// 0212 and JIS X 0201 katakana are not in the WHATWG decoder: one
	// shows "ESC(I@" as U+FFFD, "(I@"); and a two-byte run is JIS
	// characters only, so that no reader pairs its bytes otherwise
	// (WHATWG reads " !w" as U+FFFD, '＠'); a quote, backslash or
	// parenthesis byte of a character is the character's
	// (TestMailboxesJISDelimiterBytes).
	for _, v := range []string{
		"\"\x1b$(D0@\x1b(B\" <a@evil.test>",
		"\"\x1b(I1\x1b(B\" <a@evil.test>",
		"\"ceo\x1b(I@\x1b(Bbank.test\" <a@evil.test>",
		"\"ceo\x1b$B !w\x1b(Bbank.test\" <a@evil.test>",
		"\"ceo\x1b$B\t!w\x1b(Bbank.test\" <a@evil.test>",
		"\"ceo\x1b$B!w!\x1b(Bbank.test\" <a@evil.test>",
		"\"ceo\x1b$B!w\xa1\x1b(Bbank.test\" <a@evil.test>",
		"\"\x1b$B$3$s\" <a@evil.test>",
		"\"a\x1b$Ab\" <a@evil.test>", // ISO-2022-JP-2's GB 2312
		"\"a\x1b$(Cb\" <a@evil.test>",
		"\"a\x1b[31mb\" <a@evil.test>",
		"\"a\x1b\" <a@evil.test>",
		"\"a\x1b(\" <a@evil.test>",
		"\"a\x01b\" <a@evil.test>",
		"a@evil.test (a\x1b[2Jb)",
		"\x1b$B$3$s\x1b(B <a@evil.test>", // outside a quoted string
	} {
		if _, err := Mailboxes(v); err == nil || !strings.Contains(err.Error(), "a control character") && !strings.Contains(err.Error(), "an unexpected character") &&
			!strings.Contains(err.Error(), "not JIS X 0208 characters") {
			t.Errorf("Mailboxes(%q) = %v, want a control character refused", v, err)
		}
	}
}
