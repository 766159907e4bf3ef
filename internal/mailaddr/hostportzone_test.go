package mailaddr

import (
	"strings"
	"testing"
)

// SMTP-4: a HOST[:PORT] names no IPv6 zone, tagged or not, bracketed or
// bare: "[fe80::1%eth0]" is refused in the words an address literal's
// zone is ("[IPv6:fe80::1%eth0]"), never taken as an address a zone
// would make depend on this machine's interface names.
func TestSplitHostPortRefusesZone(t *testing.T) {
	for _, s := range []string{"[fe80::1%eth0]", "[fe80::1%eth0]:25", "fe80::1%eth0", "[IPv6:fe80::1%eth0]:25", "[fe80::1%25eth0]"} {
		_, _, err := SplitHostPort(s)
		if err == nil || !strings.Contains(err.Error(), "without a zone (%)") {
			t.Errorf("SplitHostPort(%q): %v, want a refusal naming the zone", s, err)
		}
	}
	for _, s := range []string{"[fe80::1]:25", "[::1]", "::1", "[IPv6:2001:db8::1]:2525"} {
		if _, _, err := SplitHostPort(s); err != nil {
			t.Errorf("SplitHostPort(%q): %v", s, err)
		}
	}
}
