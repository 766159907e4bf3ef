package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// An address RCPT refuses by its address alone has no route: route
// explain prints RCPT's refusal as its only line — no destination, no
// next hop — and exits 64 (usage), also in a mix with good addresses,
// where each address gets its own verdict and the exit code is the worst
// (RT-11, SMTP-1). Every form counts: an address literal, a tagged
// literal that is none ([IPv6:1.2.3.4], mailaddr.ParseLiteral), IP-address
// text, bad syntax.
func TestRouteExplainRefusedHasNoRoute(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, "127.0.0.1:2525", "127.0.0.1:2526")
	for rcpt, reply := range map[string]string{
		"x@[1.2.3.4]":          "550 5.1.2",
		"x@[IPv6:2001:db8::1]": "550 5.1.2",
		"postmaster@[1.2.3.4]": "550 5.1.2",
		"x@[IPv6:1.2.3.4]":     "501 5.1.3",
		"x@[::1]":              "501 5.1.3",
		"x@192.0.2.1":          "550 5.1.2",
		"x@::1":                "550 5.1.2",
		"a b@dead.test":        "501 5.1.3",
	} {
		out, errOut, code := cliAll(t, cfg, "route", "explain", rcpt)
		if code != exitUsage || !strings.Contains(out+errOut, reply) {
			t.Errorf("route explain %s: exit %d, want %d with %s\n%s%s", rcpt, code, exitUsage, reply, out, errOut)
		}
		if strings.Contains(out, "next hop") || strings.Contains(out, "send connector") {
			t.Errorf("route explain %s: a route for an address RCPT refuses:\n%s", rcpt, out)
		}
	}
	// A mix: each line its own verdict, the exit code the worst.
	out, errOut, code := cliAll(t, cfg, "route", "explain", "x@dead.test", "x@[1.2.3.4]", "y@[IPv6:1.2.3.4]")
	if code != exitUsage {
		t.Errorf("route explain of good and refused addresses: exit %d, want %d\n%s%s", code, exitUsage, out, errOut)
	}
	parts := strings.Split(out, "\n\n")
	var good, lit, tagged string
	for _, p := range parts {
		switch {
		case strings.Contains(p, "x@dead.test (from"):
			good = p
		case strings.Contains(p, "x@[1.2.3.4] (from"):
			lit = p
		case strings.Contains(p, "y@[IPv6:1.2.3.4] (from"):
			tagged = p
		}
	}
	if !strings.Contains(good, "send connector sink") || !strings.Contains(good, "rcpt:        250") {
		t.Errorf("the good address is not explained:\n%s", out)
	}
	if !strings.Contains(lit, "rcpt:        550 5.1.2") || strings.Contains(lit, "destination") || strings.Contains(lit, "next hop") {
		t.Errorf("the literal's verdict is not its refusal only:\n%s", lit)
	}
	if !strings.Contains(tagged, "rcpt:        501 5.1.3") || strings.Contains(tagged, "destination") || strings.Contains(tagged, "next hop") {
		t.Errorf("the tagged literal's verdict is not its refusal only:\n%s", tagged)
	}
	if !strings.Contains(errOut, "x@[1.2.3.4]") || strings.Contains(errOut, "x@dead.test") {
		t.Errorf("stderr does not name the refused addresses only:\n%s", errOut)
	}
	out, _, code = cliAll(t, cfg, "route", "explain", "--json", "x@[1.2.3.4]", "y@dead.test")
	var ex routeExplanation
	if code != exitUsage || json.Unmarshal([]byte(out), &ex) != nil || len(ex.Routes) != 2 || len(ex.Recipients) != 2 ||
		!ex.Recipients[0].Refused || !strings.HasPrefix(ex.Recipients[0].RCPT, "550 5.1.2") || len(ex.Routes[0].NextHops) != 0 ||
		ex.Recipients[1].Refused || len(ex.Routes[1].NextHops) == 0 {
		t.Errorf("route explain --json of a refused and a good address: exit %d\n%s", code, out)
	}
}
