package config

import "testing"

// A port is digits only (mailaddr.ValidPort): strconv.Atoi's sign made
// "relay.example:+25" a smart host with port 25 (SR- smart host syntax).
func TestSmartHostPortSign(t *testing.T) {
	for _, h := range []string{"relay.example:+25", "relay.example:-0", "[2001:db8::1]:+25"} {
		if errs := smartHostErrors(h); len(errs) == 0 {
			t.Errorf("smart host %q taken", h)
		}
	}
	if errs := smartHostErrors("relay.example:25"); len(errs) != 0 {
		t.Errorf("relay.example:25: %v", errs)
	}
}
