package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
)

// A tie of send connectors (equal cost) is decided by one rule, in one
// function: by kind of the nearest source server — this server, then
// one in this site, then one in another site — then by name (RT-9,
// README "Other mail takes the send connector"). route explain names
// the connector a real relay then takes, for each kind of tie: names
// alone; this server against another site; this server against this
// site; this site against another site.
func TestRouteExplainAndRelayBreakTiesAlike(t *testing.T) {
	dir := t.TempDir()
	a, a2, b := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	sinks := map[string]*plainHost{}
	smart := map[string]string{}
	for _, name := range []string{"alpha1", "zulu1", "alpha2", "zulu2", "alpha3", "zulu3", "alpha4", "zulu4"} {
		smart[name] = freeAddr(t, "127.0.0.1")
		sinks[name] = startPlainHost(t, smart[name], name+".sink")
	}
	conn := func(name, domain string, cost int, src string) string {
		return fmt.Sprintf("  - {name: %s, address_spaces: [{domain: %s, cost: %d}], source_servers: [%s], smart_hosts: [%q]}\n",
			name, domain, cost, src, smart[name])
	}
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-a2, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
`, a, a2, b) +
		conn("zulu1", "tie1.test", 1, "hub-a") + conn("alpha1", "tie1.test", 1, "hub-a") + // names alone: alpha1
		conn("alpha2", "tie2.test", 1, "hub-b") + conn("zulu2", "tie2.test", 11, "hub-a") + // 1+10 = 11+0: this server, zulu2
		conn("alpha3", "tie3.test", 1, "hub-a2") + conn("zulu3", "tie3.test", 1, "hub-a") + // this server before this site: zulu3
		conn("alpha4", "tie4.test", 1, "hub-b") + conn("zulu4", "tie4.test", 11, "hub-a2") // this site before another: zulu4
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	d := startUmbra(t, cfg, a)
	defer d.kill()
	defer d.dumpLogIfFailed()
	rcpts := []string{"x@tie1.test", "x@tie2.test", "x@tie3.test", "x@tie4.test"}
	want := []string{"alpha1", "zulu2", "zulu3", "zulu4"}
	out, code := cli(t, cfg, "route", "explain", "--json", rcpts[0], rcpts[1], rcpts[2], rcpts[3])
	var ex routeExplanation
	if code != 0 || json.Unmarshal([]byte(out), &ex) != nil || len(ex.Routes) != len(rcpts) {
		t.Fatalf("route explain: exit %d\n%s", code, out)
	}
	for i, r := range ex.Routes {
		if r.Destination != "send connector "+want[i] {
			t.Errorf("route explain %s: %q, want send connector %s\n%s", rcpts[i], r.Destination, want[i], strings.Join(r.Reasons, "\n"))
		}
	}
	for _, rcpt := range rcpts {
		if r := rawSend(t, a, "s@example.org", []string{rcpt}, "Subject: "+rcpt+"\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
			t.Fatalf("DATA for %s: %s", rcpt, r)
		}
	}
	// The relays: through the chosen connector's smart host where this
	// server is its source; to the chosen connector's site otherwise
	// (hub-a2, site a, does not run: the message waits in site:a).
	for i, name := range want[:3] {
		waitCond(t, rcpts[i]+" through "+name, 30*time.Second, func() bool {
			_, bodies := sinks[name].got()
			return len(bodies) == 1
		})
	}
	waitCond(t, rcpts[3]+" waiting for site a", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "message", "list", "--json", "--queue", "site:a")
		var ms []admin.MessageView
		return json.Unmarshal([]byte(out), &ms) == nil && len(ms) == 1 && ms[0].Recipients[0].Address == rcpts[3]
	})
	for name, s := range sinks {
		if _, bodies := s.got(); len(bodies) > 0 && !strings.Contains(strings.Join(want, " "), name) {
			t.Errorf("%s got %d messages: not the connector route explain chose", name, len(bodies))
		}
	}
}
