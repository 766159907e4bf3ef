package jsonsafe

import "testing"

// FromShown reads a value as the CLI's text output shows it: an odd run
// of backslashes before an escape ends in the character, an even one in
// the text; \xNN runs and printable \u escapes are left as they are.
func TestFromShown(t *testing.T) {
	for in, want := range map[string]string{
		`a\u001b`:         "a\x1b",
		`a\\u001b`:        `a\u001b`,
		`a\\\u001b`:       "a\\\x1b",
		`a\\\\u001b`:      `a\\u001b`,
		`t\tab`:           "t\tab",
		`t\\tab`:          `t\tab`,
		`e\udb40\udc01`:   "e\U000E0001",
		`p\u0041`:         `p\u0041`,
		`p\\u0041`:        `p\u0041`,
		`x\xe9 and \\xe9`: `x\xe9 and \\xe9`,
		`C:\dir\a`:        `C:\dir\a`,
		`end\`:            `end\`,
		"plain":           "plain",
	} {
		if got, _ := FromShown(in); got != want {
			t.Errorf("FromShown(%q) = %q, want %q", in, got, want)
		}
	}
}

// FromTextBytes undoes TextBytes: the value as given, for a filter that
// compares it with what is stored raw.
func TestFromTextBytesUndoesTextBytes(t *testing.T) {
	for _, v := range []string{"caf\xe9", `caf\xe9`, `caf\\xe9`, "caf\\\xe9", "a\\\\\xff1", `C:\dir\x`, `x\xg1`, "plain", `\`, "\xff\xfe"} {
		if got := FromTextBytes(TextBytes(v)); got != v {
			t.Errorf("FromTextBytes(TextBytes(%q)) = %q", v, got)
		}
	}
}
