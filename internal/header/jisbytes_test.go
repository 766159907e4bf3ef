package header

import (
	"strings"
	"testing"
)

// bidi23 (3), EDGE-1: a JIS X 0208 character's two bytes are any of
// 0x21–0x7E, a quote, backslash or parenthesis among them: あ is "$\"",
// ぜ "$\\", え "$(", ぉ "$)", the comma 、 "!\"", ＼ "!@"… A raw
// ISO-2022-JP name (RFC 5322 §4 obs-qtext, as old Japanese mailers write
// one) holding such a character is a name, not a quoted string or
// comment ending inside a character: the scanner reads a JIS X 0208 run
// as whole characters up to its escape sequence, whatever their bytes.
// What such a name shows is still read, decoded and as its bytes (a
// reader that does not decode ISO-2022-JP, and ends the quoted string at
// the quote byte, sees the same bytes): an address of another domain in
// it stays refused.
func TestMailboxesJISDelimiterBytes(t *testing.T) {
	for _, v := range []string{
		"\"\x1b$B$\"$-$i\x1b(B\" <a@evil.test>",  // あきら
		"\"\x1b$B$\\$s$\"\x1b(B\" <a@evil.test>", // ぜんあ
		"\"\x1b$B!\"\x1b(B\" <a@evil.test>",      // 、
		"\"\x1b$B!\\\x1b(B\" <a@evil.test>",      // ＼ (JIS 0x215C)
		"\"Taro \x1b$B;3ED$\"\x1b(B (Sales)\" <a@evil.test>",
		"a@evil.test (\x1b$B$($*\x1b(B)",       // えお in a comment
		"a@evil.test (\x1b$B$)$(\x1b(B)",       // ぉえ
		"a@evil.test (x (\x1b$B$($)\x1b(B) y)", // nested
		"\x1b$B$\"\x1b(B <a@evil.test>",        // outside quotes: still no atom
		"\"\x1b$B$\"\x1b(B\"@evil.test",        // a quoted local part
		"\"\x1b$B$\"\x1b(B\" <a@evil.test>, \"\x1b$B$(\x1b(B\" <b@evil.test>",
	} {
		got, err := Mailboxes(v)
		if strings.HasPrefix(v, "\x1b") {
			if err == nil {
				t.Errorf("Mailboxes(%q) = %v, want refused (ISO-2022-JP outside a quoted string or comment)", v, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Mailboxes(%q) = %v, want the name taken", v, err)
			continue
		}
		for _, m := range got {
			if m.Domain != "evil.test" {
				t.Errorf("Mailboxes(%q) = %v, want evil.test", v, got)
			}
		}
	}
	// Spoof cases stay refused: an address in the JIS bytes, or one a
	// reader that ends the quoted string at the quote byte sees; a run
	// holding a delimiter byte and an address's byte (< > @) is refused
	// as it is (rr23 F2: a comment in the domain hides the address from
	// the bytes as read, TestJISDelimiterByteTwoAuthors).
	for v, at := range map[string]string{
		"\"\x1b$B$\"<ceo@bank.test>!\x1b(B\" <a@evil.test>": "\x1b$B$\"<ceo@bank.test>!\x1b(B\" <a@evil.test>",
		"\"\x1b$B$\"ceo@bank.test!\x1b(B\" <a@evil.test>":   "\x1b$B$\"ceo@bank.test!\x1b(B\" <a@evil.test>",
		"\"\x1b$B$\"\x1b(Bceo@bank.test\" <a@evil.test>":    "\u3042ceo@bank.test",
		"a@evil.test (\x1b$B$)ceo@bank.test!\x1b(B)":        "\x1b$B$)ceo@bank.test!\x1b(B)",
		"\"\x1b$B$\"!w\x1b(Bbank.test\" <a@evil.test>":      "\u3042@bank.test",
	} {
		_, err := Mailboxes(v)
		me, ok := err.(*MailboxError)
		if !ok || me.At != at {
			t.Errorf("Mailboxes(%q) = %#v, want an error at %q", v, err, at)
		}
	}
	// Still refused: a run that is not whole characters before its
	// escape sequence (the quote then ends nothing: the string is
	// unterminated), a byte outside 0x21–0x7E, another escape sequence.
	for _, v := range []string{
		"\"\x1b$B$3$s\" <a@evil.test>",
		"\"\x1b$B$\"\" <a@evil.test>",
		"\"\x1b$B$ \x1b(B\" <a@evil.test>",
		"a@evil.test (\x1b$B$()",
		"\"\x1b$(D$\"\x1b(B\" <a@evil.test>",
	} {
		if got, err := Mailboxes(v); err == nil {
			t.Errorf("Mailboxes(%q) = %v, want refused", v, got)
		}
	}
}

// rr23 F2: a quote byte inside a raw JIS X 0208 run now belongs to the
// character, so Mailboxes reads one quoted string up to the last quote and
// the author a@evil.test; a parser that does not decode ISO-2022-JP
// (Python's email.headerregistry, policy.default) ends the quoted string at
// the first quote byte and reads the single author ceo@bank.test. The
// comment in the domain hides the address from the raw-bytes view.
func TestJISDelimiterByteTwoAuthors(t *testing.T) {
	v := "\"\x1b$B$\"<ceo@bank(x).test>$\"\x1b(B\" <a@evil.test>"
	if m, err := Mailboxes(v); err == nil {
		t.Fatalf("%q read as %v; a byte parser reads the author ceo@bank.test", v, m)
	}
}
