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
	// reader that ends the quoted string at the quote byte sees.
	for v, at := range map[string]string{
		"\"\x1b$B$\"<ceo@bank.test>!\x1b(B\" <a@evil.test>": "ceo@bank.test",
		"\"\x1b$B$\"ceo@bank.test!\x1b(B\" <a@evil.test>":   "$B$ceo@bank.test",
		"\"\x1b$B$\"\x1b(Bceo@bank.test\" <a@evil.test>":    "\u3042ceo@bank.test",
		"a@evil.test (\x1b$B$)ceo@bank.test!\x1b(B)":        "ceo@bank.test",
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
