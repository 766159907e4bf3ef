package config

import (
	"strings"
	"testing"
)

// SMTP-4, RT-8: an address umbra connects to (a topology server's, an
// LMTP address, a milter's inet: address) names no IPv6 zone — the same
// refusal as a smart host's (mailaddr.SplitHostPort): a zone is an
// interface of one machine. Listeners may bind a link-local address
// with its zone.
func TestDialAddressRefusesZone(t *testing.T) {
	for _, a := range []string{"[fe80::1%eth0]:25", "[fe80::1%25eth0]:2525"} {
		if err := checkDialAddress(a); err == nil || !strings.Contains(err.Error(), "without a zone (%)") {
			t.Errorf("checkDialAddress(%q): %v, want the zone refused", a, err)
		}
	}
	if _, _, err := MilterAddress("inet:[fe80::1%eth0]:8891"); err == nil || !strings.Contains(err.Error(), "without a zone (%)") {
		t.Errorf("milter inet: with a zone: %v", err)
	}
	if err := checkDialAddress("[fe80::1]:25"); err != nil {
		t.Errorf("checkDialAddress without a zone: %v", err)
	}
	if err := checkHostPort("[fe80::1%eth0]:25"); err != nil {
		t.Errorf("a listener's link-local address with its zone: %v", err)
	}
}
