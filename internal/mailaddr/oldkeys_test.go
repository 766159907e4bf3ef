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
		{"JÖRG@example.org", []string{"jörg@example.org"}},
	} {
		if got := EarlierKeys(c.addr); !slices.Equal(got, c.want) {
			t.Errorf("EarlierKeys(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}
