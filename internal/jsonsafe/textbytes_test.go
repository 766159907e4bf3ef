package jsonsafe

import "testing"

// A byte that is not UTF-8 and the literal text that spells its escape
// are different values, so they must read differently: a literal
// backslash run that would read as an escape (it is followed by xNN) is
// written doubled, the escape of a byte keeps one backslash; text that
// reads as no escape is left as it is (an older line reads the same).
func TestTextBytesUnambiguous(t *testing.T) {
	for in, want := range map[string]string{
		"id\xff1":       `id\xff1`,
		`id\xff1`:       `id\\xff1`,
		`id\\xff1`:      `id\\\\xff1`,
		"id\\\xff":      `id\\\xff`, // a literal backslash, then the byte: \\ + \xff
		`a\b`:           `a\b`,
		`a\\b`:          `a\\b`,
		`x\xg1`:         `x\xg1`,
		`x\xA0`:         `x\\xA0`,
		"caf\xe9 \\xe9": `caf\xe9 \\xe9`,
		"plain":         "plain",
	} {
		if got := TextBytes(in); got != want {
			t.Errorf("TextBytes(%q) = %q, want %q", in, got, want)
		}
	}
	seen := map[string]string{}
	for _, in := range []string{"id\xff1", `id\xff1`, `id\\xff1`, "id\\\xff1", "id\\\\\xff1"} {
		out := TextBytes(in)
		if prev, ok := seen[out]; ok {
			t.Errorf("%q and %q both read %q", prev, in, out)
		}
		seen[out] = in
	}
}
