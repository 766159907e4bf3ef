package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/topology"
)

// routePlanOrg writes a two-site organisation for comparing route
// explain with the daemon's delivery plan: site a (hub-a, edge-a, mailbox
// server mbx-a with DB0), site b (hub-b, mailbox server mbx-b with DB1),
// a size limit on the link, a send connector with smart hosts in site b
// and one resolving MX in site a. It returns the topology file.
func routePlanOrg(t *testing.T, dir string) string {
	topo := `sites:
  - {name: a, subnets: ["127.0.61.0/24"]}
  - {name: b, subnets: ["127.0.62.0/24"]}
site_links:
  - {name: a-b, sites: [a, b], cost: 10, max_message_size: 1000}
servers:
  - {name: hub-a, role: hub, address: "127.0.61.10:2525"}
  - {name: edge-a, role: edge, address: "127.0.61.11:2525"}
  - {name: mbx-a, role: mailbox, address: "127.0.61.20:2424"}
  - {name: hub-b, role: hub, address: "127.0.62.10:2525"}
  - {name: mbx-b, role: mailbox, address: "127.0.62.20:2424"}
mailbox_databases:
  - {name: DB0, server: mbx-a}
  - {name: DB1, server: mbx-b}
recipients:
  - {match: local.test, database: DB0}
  - {match: corp.test, database: DB1}
  - {match: boss@other.test, database: DB1}
send_connectors:
  - {name: internet, address_spaces: [{domain: "*.ext.test", cost: 1}], source_servers: [hub-b], smart_hosts: ["127.0.62.99:2525"]}
  - {name: direct, address_spaces: [{domain: mx.test, cost: 1}], source_servers: [hub-a]}
`
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// explainedQueue is the queue the daemon must put a recipient in, read
// from route explain's answer: the contract between the two.
func explainedQueue(r routing.Route, cfg *config.Config, domain string) string {
	switch {
	case r.NDR != "":
		return "bounce " + r.NDR
	case r.Tempfail != "":
		return "directory"
	case len(r.NextHops) == 0:
		return "unreachable"
	}
	h := r.NextHops[0]
	switch h.Kind {
	case routing.HopMailbox:
		if len(h.Servers) == 0 { // this server's own store
			return "mailbox:" + cfg.Mailbox.Database
		}
		return "mailbox:" + h.Database
	case routing.HopRelay:
		return "site:" + h.Site
	case routing.HopConnector:
		for _, sc := range cfg.SendConnectors {
			if sc.Name == h.Connector && len(sc.SmartHosts) > 0 {
				return "smarthost:" + h.Connector
			}
		}
		if tp, err := topology.Load(cfg.Topology); cfg.Topology != "" && err == nil {
			if tc, ok := tp.Connector(h.Connector); ok && len(tc.SmartHosts) > 0 {
				return "smarthost:" + h.Connector
			}
		}
		return "mx:" + domain
	}
	return "legacy:" + strings.Join(h.Servers, ",")
}

// plannedQueue is where the daemon's delivery puts a recipient: the
// queue of its plan's job, or, for a recipient answered without a
// connection, the result Deliver gives it (no network is touched).
func plannedQueue(t *testing.T, d *delivery.Deliverer, rcpt string, size int64) string {
	m := &queue.Message{ID: 0x5EED, From: "s@example.org", Size: size, Rcpts: []queue.Recipient{{Addr: rcpt}}}
	jobs := d.Plan(context.Background(), m, []int{0})
	if len(jobs) != 1 {
		t.Fatalf("%s: %d jobs", rcpt, len(jobs))
	}
	if jobs[0].Dest != "" {
		return jobs[0].Queue
	}
	res := d.Deliver(context.Background(), m, []byte("Subject: x\r\n\r\nx\r\n"), []int{0})
	if len(res) != 1 {
		t.Fatalf("%s: %d results", rcpt, len(res))
	}
	if res[0].Outcome == queue.FailedPerm {
		return "bounce " + res[0].Reply
	}
	return res[0].Queue
}

// rt5 F2: route explain must give the route the daemon takes. For every
// kind of destination — a mailbox database in this site and in another,
// this server's own store, an exact address of the recipient map, a send
// connector with smart hosts and one resolving MX, no connector, a size
// limit on the path, an edge, and a server without a topology — the
// explanation (the CLI, offline from the same file) and the delivery
// plan of a Deliverer built from that file as serve builds it must name
// the same queue; each case also names the queue it must be, so that the
// table tests the rule and not only the agreement.
func TestRouteExplainIsTheDeliveryPlan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	topo := routePlanOrg(t, dir)
	write := func(name, body string) string {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Each server binds its own topology address: a wildcard would also
	// take the other's loopback address on this machine.
	binding := func(addr string) string {
		return `receive_connectors:
  - {name: in, bindings: ["` + addr + `"], remote_ranges: ["127.0.0.0/8"], permissions: {anonymous: [submit]}}
`
	}
	hubA := write("hub-a", fmt.Sprintf(`server: {name: hub-a, data_dir: %s}
topology: %s
accepted_domains:
  - {domain: corp.test, type: authoritative, recipient_validation: "off"}
  - {domain: local.test, type: authoritative, recipient_validation: "off"}
  - {domain: other.test, type: authoritative, recipient_validation: off}
  - {domain: sales.test, type: internal_relay}
mailbox: {maildir: maildir, database: HUBA}
`, filepath.Join(dir, "a"), topo)+binding("127.0.61.10:2525"))
	edgeA := write("edge-a", fmt.Sprintf(`server: {name: edge-a, role: edge, data_dir: %s}
topology: %s
accepted_domains:
  - {domain: corp.test, type: authoritative, recipient_validation: "off"}
  - {domain: other.test, type: authoritative, recipient_validation: off}
mailbox: {maildir: maildir}
`, filepath.Join(dir, "e"), topo)+binding("127.0.61.11:2525"))
	alone := write("alone", fmt.Sprintf(`server: {name: mx.alone.test, data_dir: %s}
accepted_domains:
  - {domain: other.test, type: authoritative, recipient_validation: off}
mailbox: {maildir: maildir}
send_connectors:
  - {name: out, address_spaces: [{domain: "*.ext.test", cost: 1}], smart_hosts: ["127.0.62.99:2525"], max_message_size: 1000}
  - {name: direct, address_spaces: [{domain: mx.test, cost: 1}]}
`, filepath.Join(dir, "n"))+binding("0.0.0.0:2525"))

	for _, tc := range []struct {
		cfg, rcpt string
		size      int64
		want      string
	}{
		{hubA, "u@local.test", 0, "mailbox:DB0"},  // same site: straight to the mailbox server
		{hubA, "u@corp.test", 0, "site:b"},        // other site: through its hubs (RT-8)
		{hubA, "u@other.test", 0, "mailbox:HUBA"}, // authoritative, unmapped: this server's own store
		{hubA, "boss@other.test", 0, "site:b"},    // an exact address of the map wins
		{hubA, "u@corp.test", 5000, "bounce 552 5.3.4 message of 5000 bytes exceeds the limit of 1000 bytes of site link a-b on the least-cost path"},
		{hubA, "u@sales.test", 0, "unreachable"},      // internal relay, no connector in reach
		{hubA, "u@x.ext.test", 0, "site:b"},           // connector in site b
		{hubA, "u@mx.test", 0, "mx:mx.test"},          // connector of this server, MX
		{hubA, "u@nowhere.example", 0, "unreachable"}, // no connector
		{edgeA, "u@other.test", 0, "site:a"},          // an edge: accepted mail to its hubs
		{edgeA, "u@corp.test", 0, "site:a"},
		{alone, "u@other.test", 0, "mailbox:local"},
		{alone, "u@x.ext.test", 0, "smarthost:out"},
		{alone, "u@x.ext.test", 5000, "bounce 552 5.3.4 message size 5000 exceeds the limit 1000 of send connector out"},
		{alone, "u@mx.test", 0, "mx:mx.test"},
		{alone, "u@nowhere.example", 0, "unreachable"},
	} {
		name := strings.TrimSuffix(filepath.Base(tc.cfg), ".yaml") + " " + tc.rcpt
		cfg, err := config.Load(tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := exec.Command(umbraBin, "route", "explain", "--config", tc.cfg, "--json", "--size", fmt.Sprint(tc.size), tc.rcpt).Output()
		var ex routeExplanation
		if err != nil || json.Unmarshal(out, &ex) != nil || len(ex.Routes) != 1 {
			t.Fatalf("%s: explain: %v\n%s%s", name, err, out, stderrOf(err))
		}
		explained := explainedQueue(ex.Routes[0], cfg, tc.rcpt[strings.IndexByte(tc.rcpt, '@')+1:])

		topo, err := serverTopology(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dc, err := deliveryConfig(cfg, topology.RoutingTable(cfg), topo, nil, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if dc.Resolver, err = newResolver(cfg.DNS, nil); err != nil {
			t.Fatal(err)
		}
		d, err := delivery.New(dc)
		if err != nil {
			t.Fatal(err)
		}
		planned := plannedQueue(t, d, tc.rcpt, tc.size)
		d.Close()
		if explained != planned || planned != tc.want {
			t.Errorf("%s (%d bytes): explain says %q, the daemon plans %q; want %q\n%s", name, tc.size, explained, planned, tc.want,
				strings.Join(ex.Routes[0].Reasons, "\n"))
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// rt5 F2 end to end: a running hub delivers a domain the topology does
// not map into its own store, and relays a mapped one towards the hubs of
// its mailbox server's site; route explain over the daemon's admin
// socket says both.
func TestRouteExplainOwnStoreEndToEnd(t *testing.T) {
	dir := t.TempDir()
	topo := routePlanOrg(t, dir)
	listen := freeAddr(t, "127.0.61.10")
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "hub-a.yaml")
	// The topology's port is not the test's; the daemon is reached at
	// listen directly.
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub-a, data_dir: %s, metrics_listen: "", address_translated: true}
topology: %s
transport: {retry_schedule: [1h]}
accepted_domains:
  - {domain: corp.test, type: authoritative, recipient_validation: off}
  - {domain: other.test, type: authoritative, recipient_validation: off}
receive_connectors:
  - {name: in, bindings: [%q], remote_ranges: ["127.0.0.0/8"], permissions: {anonymous: [submit]}, max_acknowledgement_delay: 0s}
mailbox: {maildir: maildir, database: HUBA}
`, data, topo, listen)), 0o600)
	d := startUmbra(t, cfg, listen)
	for _, rcpt := range []string{"u@other.test", "x@corp.test"} {
		if r := rawSend(t, listen, "s@example.org", []string{rcpt}, "Subject: f2\r\n\r\nhello\r\n"); !strings.HasPrefix(r, "250") {
			t.Fatalf("%s: %q", rcpt, r)
		}
	}
	waitCond(t, "u@other.test in this server's store", 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(data, "maildir", "other.test", "u", "new", "*"))
		return len(files) == 1
	})
	waitCond(t, "x@corp.test waiting for site b", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "queue", "list", "--json")
		return strings.Contains(out, `"name": "site:b"`)
	})
	out, err := exec.Command(umbraBin, "route", "explain", "--socket", filepath.Join(data, "admin.sock"), "--json", "u@other.test", "x@corp.test").Output()
	var ex routeExplanation
	if err != nil || json.Unmarshal(out, &ex) != nil || len(ex.Routes) != 2 {
		d.dumpLog()
		t.Fatalf("explain over the socket: %v\n%s%s", err, out, stderrOf(err))
	}
	if r := ex.Routes[0]; r.Destination != "the local mailbox store" || len(r.NextHops) != 1 || r.NextHops[0].Kind != routing.HopMailbox {
		t.Errorf("u@other.test: %+v", r)
	}
	if r := ex.Routes[1]; len(r.NextHops) == 0 || r.NextHops[0].Kind != routing.HopRelay || r.NextHops[0].Site != "b" {
		t.Errorf("x@corp.test: %+v", r)
	}
}
