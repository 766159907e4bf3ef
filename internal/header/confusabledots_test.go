package header

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestConfusableDotsShowADomain (rt24b F2): every character Unicode's
// confusables data maps to FULL STOP (confusabledots.go, UTS #39) is a
// dot of a shown domain, as U+2024 and U+FF61 already are: a display
// name "ceo@example<U+A4F8>org" shows ceo@example.org, raw, in an RFC
// 2047 encoded word and in a comment.
func TestConfusableDotsShowADomain(t *testing.T) {
	// The report's characters, named here so that a table that lost
	// them fails.
	for _, r := range []rune{0xA4F8, 0x0660, 0x06F0, 0xA60E, 0x10A50, 0x0701, 0x0702, 0x2024} {
		if !slices.Contains(confusableDots, r) {
			t.Errorf("U+%04X is not in confusableDots (Unicode %s)", r, confusablesVersion)
		}
	}
	for _, r := range confusableDots {
		dot := string(r)
		var q strings.Builder
		for _, b := range []byte("ceo@example" + dot + "org") {
			if b >= 0x80 || b == '@' {
				fmt.Fprintf(&q, "=%02X", b)
			} else {
				q.WriteByte(b)
			}
		}
		for v, at := range map[string]string{
			"\"ceo@example" + dot + "org\" <a@evil.test>":    "ceo@example.org",
			"=?utf-8?q?" + q.String() + "?= <a@evil.test>":   "ceo@example.org",
			"a@evil.test (ceo@bank" + dot + "test)":          "ceo@bank.test",
			"\"ceo @ bank " + dot + " test\" <a@evil.test>":  "ceo@bank.test",
			"\"ceo@mail" + dot + "bank.test\" <a@evil.test>": "ceo@mail.bank.test",
		} {
			_, err := Mailboxes(v)
			me, ok := err.(*MailboxError)
			if !ok || me.At != at {
				t.Errorf("U+%04X: Mailboxes(%q) = %v, want an error at %q", r, v, err, at)
			}
		}
		// The author's own domain written with the look-alike is still
		// the author's own.
		if _, err := Mailboxes("\"a@evil" + dot + "test\" <a@evil.test>"); err != nil {
			t.Errorf("U+%04X: the author's own address shown: %v", r, err)
		}
	}
}
