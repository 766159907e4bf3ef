package mailaddr

import "testing"

// SMTP-1: what is wrong with a local part's dots, in fixed words; the
// recipient lists (config, recipients file) and RCPT say the same.
func TestLocalDots(t *testing.T) {
	for in, want := range map[string]string{
		"a.":     "local part ends with a dot",
		".a":     "local part starts with a dot",
		"a..b":   "local part has two dots in a row",
		".":      "local part starts with a dot",
		"a.b":    "",
		"a":      "",
		"a.b.c1": "",
	} {
		if got := LocalDots(in); got != want {
			t.Errorf("LocalDots(%q) = %q, want %q", in, got, want)
		}
	}
}
