package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ops49 F1: two hubs whose copies of the topology disagree for a moment
// (a rollout reached hub-b first: its file makes hub-a the internet
// connector's source server, hub-a's still makes it hub-b). Before, a
// message to the internet went hub-a → hub-b → hub-a … until the hop
// limit failed it 554 5.4.6, and its DSN looped the same way and failed
// too: the mail was destroyed in under a second, silently. Now the hub
// that would send it back to the server it just came from, where it has
// been before, defers it with 451 4.4.6 naming both servers and saying
// their topologies disagree: the mail waits while they are made to
// agree, and nothing fails.
func TestDaemonTopologyDisagreementDefersNotLoops(t *testing.T) {
	dir := t.TempDir()
	a, b := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topo := disagreeingTopology(t, dir, a, b, sinkAddr)
	metA, metB := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	cfgA := loopHub(t, dir, "hub-a", a, metA, "127.0.0.1", topo("hub-b"))
	cfgB := loopHub(t, dir, "hub-b", b, metB, "127.0.0.2", topo("hub-a"))
	sink := startRefusingSink(t, sinkAddr)
	hubA := startUmbra(t, cfgA, a)
	hubB := startUmbra(t, cfgB, b)

	if r := rawSend(t, a, "sender@example.org", []string{"user@far.test"}, "Subject: f1\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	// The loop is found on the second visit to a hub: the message waits
	// there, deferred 4.4.6.
	deadline := time.Now().Add(30 * time.Second)
	var where, list string
	for where == "" {
		for _, c := range []string{cfgA, cfgB} {
			out, _ := cli(t, c, "message", "list", "--json")
			if strings.Contains(out, "4.4.6") && strings.Contains(out, "disagree") {
				where, list = c, out
			}
		}
		if time.Now().After(deadline) {
			hubA.dumpLog()
			hubB.dumpLog()
			t.Fatalf("the message never waited with a 4.4.6 deferral naming the disagreement")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, name := range []string{"hub-a", "hub-b"} {
		if !strings.Contains(list, name) {
			t.Errorf("the deferral should name both servers (%s missing):\n%s", name, list)
		}
	}
	// Nothing failed on either hub, and the message went round once at
	// most: no hop limit, no DSN, nothing at the sink.
	for _, d := range []*daemon{hubA, hubB} {
		b, _ := os.ReadFile(d.log)
		if strings.Contains(string(b), "too many hops") || strings.Contains(string(b), "event=fail") || strings.Contains(string(b), "event=dsn") {
			d.dumpLog()
			t.Errorf("%s failed mail in the loop", d.cfg)
		}
	}
	if logs, _ := os.ReadFile(where + ".log"); !strings.Contains(string(logs), "level=WARN") || !strings.Contains(string(logs), "topologies disagree") {
		t.Errorf("no WARN saying the topologies disagree in %s.log", where)
	}
	met := metB
	if where == cfgA {
		met = metA
	}
	if body := scrapeOf(t, met); !strings.Contains(body, "umbra_delivery_routing_loops_total{destination=\"site:") {
		t.Errorf("the deferral is not counted in umbra_delivery_routing_loops_total:\n%s", grepLines(body, "routing_loops"))
	}
	if n := len(sink.to("user@far.test")) + len(sink.to("sender@example.org")); n != 0 {
		t.Errorf("the sink got %d messages", n)
	}
	// Once the two agree again (hub-a takes the new topology), the
	// waiting message goes out: nothing was lost.
	if err := os.WriteFile(cfgA, []byte(strings.Replace(string(mustRead(t, cfgA)), "topology-hub-b.yaml", "topology-hub-a.yaml", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hubA.hup(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for len(sink.to("user@far.test")) == 0 {
		if time.Now().After(deadline) {
			outA, _ := cli(t, cfgA, "message", "list")
			outB, _ := cli(t, cfgB, "message", "list")
			t.Fatalf("the message never went out once the topologies agreed:\nhub-a:\n%s\nhub-b:\n%s", outA, outB)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loopHub writes the configuration of a hub that connects from source.
func loopHub(t *testing.T, dir, name, addr, metrics, source, topoPath string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	os.MkdirAll(d, 0o700)
	path := filepath.Join(d, "umbra.yaml")
	cfg := fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: %q, source_address: %s}
topology: %s
transport: {retry_schedule: [1s], retry_jitter: 0.1}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 0s
`, name, filepath.Join(d, "data"), metrics, source, topoPath, addr)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// disagreeingTopology returns a writer of the two-hub topology of the
// disagreement tests (hub-a on a, hub-b on b, the internet connector's
// smart host sinkAddr) whose internet connector has source server
// source, written in dir as topology-SOURCE.yaml: hub-a given
// disagreeingTopology("hub-b") and hub-b given ("hub-a") disagree.
func disagreeingTopology(t *testing.T, dir, a, b, sinkAddr string) func(source string) string {
	t.Helper()
	return func(source string) string {
		path := filepath.Join(dir, "topology-"+source+".yaml")
		body := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.2]}
send_connectors:
  - {name: internet, address_spaces: [{domain: "*", cost: 10}], source_servers: [%s], smart_hosts: [%q]}
`, a, b, source, sinkAddr)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
}
