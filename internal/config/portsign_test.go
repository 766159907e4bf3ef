package config

import "testing"

// A port is digits only (mailaddr.ValidPort): strconv.Atoi's sign made
// "relay.example:+25" a smart host with port 25 (SR- smart host syntax).
// A leading zero is refused too, by the one check a redirect target
// shares (CheckHostPort).
func TestSmartHostPortSign(t *testing.T) {
	for _, h := range []string{"relay.example:+25", "relay.example:-0", "[2001:db8::1]:+25", "relay.example:025", "relay.example:01",
		"[::1]:025", "relay.example:", "[::1]:0", "relay.example:00"} {
		if err := CheckHostPort(h); err == nil {
			t.Errorf("smart host %q taken", h)
		}
	}
	for _, h := range []string{"relay.example:25", "relay.example", "[::1]:2525", "::1", "127.0.0.1:10"} {
		if err := CheckHostPort(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}
