package main

import (
	"testing"

	"umbra/internal/config"
)

// A redirect queue's name reads its HOST[:PORT] as queue redirect --to
// does (config.CheckHostPort, the one check): brackets hold an IPv6
// address only, a port is digits 1-65535 without a leading zero.
func TestRedirectQueueNameHostPort(t *testing.T) {
	for s, want := range map[string]bool{
		"relay.example": true, "relay.example:2525": true, "192.0.2.1:25": true,
		"[2001:db8::1]": true, "[2001:db8::1]:25": true, "2001:db8::1": true,
		"[192.0.2.1]": false, "[192.0.2.1]:25": false, "relay.example:+25": false,
		"[2001:db8::1]:+25": false, "relay.example:0": false, "relay.example:65536": false,
		"relay.example:025": false, "[2001:db8::1]:025": false, "relay.example:": false,
	} {
		if got := config.CheckHostPort(s) == nil; got != want {
			t.Errorf("CheckHostPort(%q) taken %v, want %v", s, got, want)
		}
	}
}
