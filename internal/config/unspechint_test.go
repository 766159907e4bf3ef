package config

import (
	"strings"
	"testing"
)

// SPEC SMTP-4: a next hop written as a spelling of the unspecified
// address (0, 0.0.0.0., 0x0) gets one refusal saying the target is
// unusable and to give the address the next hop is reached at, never
// advice to write 0.0.0.0, which is refused in turn.
func TestUnspecifiedSpellingHint(t *testing.T) {
	for _, s := range []string{"0", "0.0.0.0.", "0x0", "0.0", "0:25", "0.0.0.0.:25"} {
		err := CheckHostPort(s)
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		if strings.Contains(err.Error(), "write that") || !strings.Contains(err.Error(), "give the address the server is reached at") {
			t.Errorf("%q: %v", s, err)
		}
	}
	// Another address spelled the resolver's way keeps its advice.
	if err := CheckHostPort("127.1"); err == nil || !strings.Contains(err.Error(), "127.0.0.1: write that") {
		t.Errorf("127.1: %v", err)
	}
}
