package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// route explain explains each recipient on its own: one RCPT refuses
// gets its rcpt: line with RCPT's reply — the true reason, a domain
// with a port is no IP address — and the others are explained, not
// dropped with it (rt18c-F6); the exit code is the worst verdict, 64
// (TestRouteExplainRefusedHasNoRoute).
func TestRouteExplainEachAddressOnItsOwn(t *testing.T) {
	dir := t.TempDir()
	cfg := relayConfig(t, dir, "127.0.0.1:2525", "127.0.0.1:2526")
	out, code := cli(t, cfg, "route", "explain", "x@dead.test", "x@relayed.test:25")
	if code != exitUsage || !strings.Contains(out, "x@dead.test (from") || !strings.Contains(out, "send connector sink") ||
		!strings.Contains(out, "x@relayed.test:25") ||
		!strings.Contains(out, "rcpt:        550 5.1.2 Recipient address rejected: the domain is followed by a port") {
		t.Errorf("route explain of a good and a refused address: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "IP address") {
		t.Errorf("a domain with a port explained as an IP address:\n%s", out)
	}
	out, code = cli(t, cfg, "route", "explain", "--json", "x@relayed.test:25", "y@dead.test")
	var ex routeExplanation
	if code != exitUsage || json.Unmarshal([]byte(out), &ex) != nil || len(ex.Routes) != 2 || len(ex.Recipients) != 2 ||
		ex.Routes[0].Recipient != "x@relayed.test:25" || !strings.HasPrefix(ex.Recipients[0].RCPT, "550 5.1.2 ") ||
		ex.Routes[1].Recipient != "y@dead.test" || !strings.HasPrefix(ex.Recipients[1].RCPT, "250 ") {
		t.Errorf("route explain --json, in the order given: exit %d\n%s", code, out)
	}
	if _, code := cli(t, cfg, "route", "explain", "x@relayed.test:25"); code != exitUsage {
		t.Errorf("route explain of one refused address: exit %d, want %d", code, exitUsage)
	}
}
