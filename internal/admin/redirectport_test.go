package admin

import "testing"

// A redirect target's port is digits only (mailaddr.ValidPort), as a
// smart host's: "host:+25" is refused, not read as port 25, and so is
// "host:025" (config.CheckHostPort).
func TestRedirectTargetPortSign(t *testing.T) {
	for _, to := range []string{"relay.example:+25", "[2001:db8::1]:+25", "relay.example:025", "[2001:db8::1]:025"} {
		if err := checkRedirectTarget(to); err == nil {
			t.Errorf("redirect target %q taken", to)
		}
	}
	if err := checkRedirectTarget("relay.example:25"); err != nil {
		t.Errorf("relay.example:25: %v", err)
	}
}
