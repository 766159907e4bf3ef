package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// RT-11, OPS-3 (rr33 ops33): route explain names each address escaped once in
// --json whether the files or the running daemon answer RCPT: the
// daemon's answer (GET /v1/rcptcheck) is written by the answers' rule
// (writeJSON's textBytes), so an address checkAddresses escaped already
// came back escaped twice — the text \xe9 in a quoted local part read
// \\\\xe9 in recipients[].address beside \\xe9 in routes[].recipient.
func TestRouteExplainDaemonAddressEscapedOnce(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := "127.0.0.212:15212", "127.0.0.212:15213" // the sink is down
	cfg := relayConfig(t, dir, listen, sinkAddr)
	addr := `"a\\xe9"@example.test` // the text \xe9 (a quoted backslash), valid UTF-8
	type explained struct {
		Routes     []struct{ Recipient string }
		Recipients []struct{ Address string }
		RcptFrom   string `json:"rcpt_from"`
	}
	var files, daemon explained
	out, code := cli(t, cfg, "route", "explain", "--json", addr)
	if err := json.Unmarshal([]byte(out), &files); err != nil || code != 0 || len(files.Recipients) != 1 || len(files.Routes) != 1 {
		t.Fatalf("route explain without a daemon: exit %d, %v\n%s", code, err, out)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	out, code = cli(t, cfg, "route", "explain", "--json", addr)
	if err := json.Unmarshal([]byte(out), &daemon); err != nil || code != 0 || len(daemon.Recipients) != 1 || len(daemon.Routes) != 1 {
		t.Fatalf("route explain with the daemon: exit %d, %v\n%s", code, err, out)
	}
	if !strings.Contains(daemon.RcptFrom, "the daemon") {
		t.Fatalf("the daemon did not answer RCPT: %s", daemon.RcptFrom)
	}
	want := `"a\\\\xe9"@example.test` // TextBytes once: the run before xe9 doubled
	for _, c := range []struct {
		who, route, rcpt string
	}{{"files", files.Routes[0].Recipient, files.Recipients[0].Address}, {"daemon", daemon.Routes[0].Recipient, daemon.Recipients[0].Address}} {
		if c.route != want || c.rcpt != want {
			t.Errorf("%s: routes[].recipient %q, recipients[].address %q; want both %q", c.who, c.route, c.rcpt, want)
		}
	}
}
