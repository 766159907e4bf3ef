package smtp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Variants of one account name typed from several addresses count as one
// account with the throttle (SMTP-8): case, spaces and Unicode forms
// (fullwidth letters, a decomposed accent) are what the directory's
// equality rules ignore, so they are one name to a guesser too.
func TestAuthThrottleCountsNameVariantsTogether(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	g := newAuthGuard(clk, throttle(t))
	variants := []string{"jos\u00e9", "JOS\u00c9 ", "jose\u0301", "\uff4a\uff4f\uff53\u00e9", " Jos\u00e9", "JOSE\u0301"}
	var last time.Duration
	for i, name := range variants {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}) // a fresh address each time
		last, _ = g.failed(ip, name, false)
	}
	if want := g.delay(len(variants)); last != want {
		t.Errorf("delay after %d variants of one name from %d addresses: %v, want %v (the variants counted apart)", len(variants), len(variants), last, want)
	}
	if len(g.accounts) != 1 {
		t.Errorf("%d account keys for one name", len(g.accounts))
	}
	// A key's size does not grow with what a client types.
	g.failed(netip.MustParseAddr("192.0.2.99"), strings.Repeat("x", 10000), false)
	for k := range g.accounts {
		if len(k) > 128 {
			t.Errorf("an account key of %d bytes", len(k))
		}
	}
}
