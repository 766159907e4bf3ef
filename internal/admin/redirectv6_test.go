package admin

import "testing"

// queue redirect --to takes HOST[:PORT] as smart hosts do: a bracketed
// IPv6 address with or without a port, as a bare one (rt18c-F8).
func TestRedirectTargetIPv6Forms(t *testing.T) {
	for _, to := range []string{"[::1]", "[::1]:2525", "::1", "127.0.0.131", "127.0.0.131:2525", "mx.example", "mx.example:587"} {
		if err := checkRedirectTarget(to); err != nil {
			t.Errorf("--to %s: %v", to, err)
		}
	}
	for _, to := range []string{"[::1]:0", "[::1]:70000", "[::1", "999.1.1.1", "[mx.example]"} {
		if err := checkRedirectTarget(to); err == nil {
			t.Errorf("--to %s: taken", to)
		}
	}
}
