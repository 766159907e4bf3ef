package mailaddr

import (
	"slices"
	"testing"
)

// Stores keyed an address by strings.ToLower, then by Fold, before
// AddrKey was their one key: EarlierKeys are those forms, for a look-up
// that finds what an earlier release wrote; none for an address all
// forms agree on.
func TestEarlierKeys(t *testing.T) {
	for _, c := range []struct {
		addr string
		want []string
	}{
		{"Alice@Example.ORG", nil},
		{"anna@Bücher.example", []string{"anna@bücher.example"}},
		{"ANNA@BÜCHER.example", []string{"anna@bÜcher.example", "anna@bücher.example"}},
		{"anna@xn--bcher-kva.example", nil},
		{"Jörg@example.org", nil},
		// Never a merge this package keeps apart: a non-ASCII capital of
		// a local part, a character that lowers to ASCII.
		{"JÖRG@example.org", nil},
		{"\u212Aelvin@example.org", nil},
		{"a@\u212Aiosk.test", nil},
		{"a@Bücher.\u212Aiosk.test", nil},
	} {
		if got := EarlierKeys(c.addr); !slices.Equal(got, c.want) {
			t.Errorf("EarlierKeys(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}
