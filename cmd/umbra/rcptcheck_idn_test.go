package main

import (
	"strings"
	"testing"

	"umbra/internal/config"
)

// route explain refuses an address with the reply the live RCPT gives
// it: an invalid internationalised domain (bad punycode, a KELVIN SIGN)
// 553 5.1.3 naming the label, bad syntax 501 5.1.3.
func TestRcptAddressRefusalIsRCPTs(t *testing.T) {
	cfg := &config.Config{}
	for in, want := range map[string][]string{
		"x@xn--zz.example":     {"553 5.1.3", "xn--zz"},
		"anna@\u212Aiosk.test": {"553 5.1.3", "U+212A"},
		"a b@example.test":     {"501 5.1.3"},
	} {
		_, err := rcptAddress(cfg, in)
		if err == nil {
			t.Errorf("%q accepted", in)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v; want %q in it", in, err, w)
			}
		}
	}
}
