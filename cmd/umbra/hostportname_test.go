package main

import "testing"

// A redirect queue's name reads its HOST[:PORT] as queue redirect --to
// does (mailaddr.SplitHostPort, the one reading): brackets hold an IPv6
// address only, a port is digits 1-65535.
func TestRedirectQueueNameHostPort(t *testing.T) {
	for s, want := range map[string]bool{
		"relay.example": true, "relay.example:2525": true, "192.0.2.1:25": true,
		"[2001:db8::1]": true, "[2001:db8::1]:25": true, "2001:db8::1": true,
		"[192.0.2.1]": false, "[192.0.2.1]:25": false, "relay.example:+25": false,
		"[2001:db8::1]:+25": false, "relay.example:0": false, "relay.example:65536": false,
	} {
		if got := validHostPort(s); got != want {
			t.Errorf("validHostPort(%q) = %v, want %v", s, got, want)
		}
	}
}
