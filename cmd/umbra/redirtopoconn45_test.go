package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// redir45IP is the loopback address of the redir45 daemons (ports
// 14000-14999: addrInRange).
const redir45IP = "127.0.0.180"

// redir45Org is four hubs in three sites and a sink: the topology's
// send connector out (every domain) has hub-3 and hub-4 (site s3) as
// its sources and the sink as its smart host, and no hub configures a
// connector of that name (the normal case under a topology). hub-3 and
// hub-4 are not started: mail for out waits on hub-1 in its queue
// site:s3. extra1 is added to hub-1's configuration.
type redir45Org struct {
	a1, a2, a3, a4, sink   string
	cfg1, cfg2, cfg3, cfg4 string
}

func newRedir45Org(t *testing.T, extra1 string) *redir45Org {
	t.Helper()
	seen := map[string]bool{}
	var in []string
	for try := 0; len(in) < 5 && try < 600; try++ {
		if a := addrInRange(t, redir45IP, 14000, 1000); !seen[a] {
			seen[a] = true
			in = append(in, a)
		}
	}
	if len(in) < 5 {
		t.Fatalf("%d distinct free addresses on %s, want 5", len(in), redir45IP)
	}
	o := &redir45Org{a1: in[0], a2: in[1], a3: in[2], a4: in[3], sink: in[4]}
	dir := t.TempDir()
	topo := fmt.Sprintf(`sites: [{name: s1}, {name: s2}, {name: s3}]
site_links:
  - {name: l12, sites: [s1, s2], cost: 10}
  - {name: l23, sites: [s2, s3], cost: 10}
  - {name: l13, sites: [s1, s3], cost: 10}
servers:
  - {name: hub-1, role: hub, site: s1, address: %q, source_addresses: [%s]}
  - {name: hub-2, role: hub, site: s2, address: %q, source_addresses: [%s]}
  - {name: hub-3, role: hub, site: s3, address: %q, source_addresses: [%s]}
  - {name: hub-4, role: hub, site: s3, address: %q, source_addresses: [%s]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-3, hub-4], smart_hosts: [%q]}
`, o.a1, redir45IP, o.a2, redir45IP, o.a3, redir45IP, o.a4, redir45IP, o.sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	o.cfg1, _ = orgHub(t, dir, "hub-1", o.a1, topoPath, "0s", extra1)
	o.cfg2, _ = orgHub(t, dir, "hub-2", o.a2, topoPath, "0s", "")
	o.cfg3, _ = orgHub(t, dir, "hub-3", o.a3, topoPath, "0s", "")
	o.cfg4, _ = orgHub(t, dir, "hub-4", o.a4, topoPath, "0s", "")
	for _, cfg := range []string{o.cfg1, o.cfg2, o.cfg3, o.cfg4} {
		// Connections from the topology's source address of each hub:
		// a shadow session from another is refused.
		editConfig(t, cfg, `metrics_listen: ""}`, `metrics_listen: "", source_address: `+redir45IP+`}`)
	}
	return o
}

// redir45Redirect sends one message to hub-1, redirects hub-1's queue
// site:s3 to hub-2 (queue redirect --to another transport server of the
// organisation) and waits for hub-1 to hold its shadow copy for hub-2.
func redir45Redirect(t *testing.T, o *redir45Org, subject string) {
	t.Helper()
	if reply := rawSend(t, o.a1, "a@example.org", []string{"y@ext.test"}, "Subject: "+subject+"\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("send to hub-1: %q", reply)
	}
	waitCond(t, "hub-1 to queue the message for site:s3", 30*time.Second, func() bool { return (&shadowPair{}).queued(t, o.cfg1)["site:s3"] == 1 })
	if out, code := cli(t, o.cfg1, "queue", "redirect", "site:s3", "--to", o.a2); code != 0 {
		t.Fatalf("queue redirect: exit %d: %s", code, out)
	}
	p := &shadowPair{}
	waitCond(t, "hub-1 to hold its shadow copy for hub-2", 30*time.Second, func() bool { s, _ := p.held(t, o.cfg1, "hub-2"); return s == 1 })
}

// redir45Once starts hub-3, hub-4 and the sink, has hub-2 relay the
// message to one of them, which delivers it, and stops that one for
// maintenance (a copy taken over later would reach the other, which
// has no record of it). It checks that hub-1's copy is discarded (its
// watch and heartbeats reach hub-2) and the message arrives once, also
// after more than the takeover's timeout × retries.
func redir45Once(t *testing.T, o *redir45Org, h1 *daemon, subject string) {
	t.Helper()
	sink := startRecorder(t, o.sink)
	h3 := startUmbra(t, o.cfg3, o.a3)
	h3.dumpLogIfFailed()
	h4 := startUmbra(t, o.cfg4, o.a4)
	h4.dumpLogIfFailed()
	cli(t, o.cfg2, "queue", "flush")
	waitArrived(t, sink, []string{subject}, h3)
	for _, h := range []*daemon{h3, h4} {
		if b, _ := os.ReadFile(h.log); strings.Contains(string(b), "event=send ") {
			h.kill()
		}
	}
	p := &shadowPair{}
	waitCond(t, "hub-1 to discard its copy for hub-2", 30*time.Second, func() bool { s, q := p.held(t, o.cfg1, "hub-2"); return s == 0 && q == 0 })
	time.Sleep(6 * time.Second) // hub-1's timeout (1 s) × retries (3) twice over: a takeover would deliver again now
	if k := sink.counts()[subject]; k != 1 {
		t.Errorf("the message arrived %d times, want once", k)
	}
	log, _ := os.ReadFile(h1.log)
	// Not "heartbeat failed": one heartbeat of 1 s may fail on a loaded
	// machine; what must not come is the local failure and a takeover.
	for _, bad := range []string{"is gone", "took over shadow copies"} {
		if strings.Contains(string(log), bad) {
			t.Errorf("hub-1's log says %q: its sessions to a live hub-2 failed", bad)
		}
	}
}

// SR-6, SR-3, OPS- (rt45 redirect): an operator redirects hub-1's queue
// for site s3 to hub-2, another transport server of the organisation.
// The route of the mail names the topology's send connector out, which
// hub-1 does not configure. hub-1 keeps its shadow copy for hub-2; its
// heartbeats and watch session to hub-2 reach it, fetch the discard
// hub-2 prepares when it relayed the message on, and nothing is taken
// over: the message arrives once. The copy was recorded "ADDR via out",
// every session to hub-2 failed here before any connection ("send
// connector out is gone"), and hub-1 took the copy over from a live
// hub-2 and delivered it a second time (3 of 3).
func TestSR6RedirectThroughTopologyConnectorIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	o := newRedir45Org(t, "")
	h1 := startUmbra(t, o.cfg1, o.a1)
	h1.dumpLogIfFailed()
	h2 := startUmbra(t, o.cfg2, o.a2)
	h2.dumpLogIfFailed()
	redir45Redirect(t, o, "redir45")
	redir45Once(t, o, h1, "redir45")
}

// SR-6, OPS- (rt45 redirect, the variant with a reload): hub-1
// configures out (settings only) when the copy is made, so the copy is
// recorded "ADDR via out"; a reload then removes the connector while
// the copy is watched through it. hub-1's sessions to hub-2 go the way
// hub-1 reaches it otherwise, and the message arrives once.
func TestSR6ReloadRemovingTheCopysConnectorIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	extra := "send_connectors:\n  - name: out\n    tls: none\n"
	o := newRedir45Org(t, extra)
	h1 := startUmbra(t, o.cfg1, o.a1)
	h1.dumpLogIfFailed()
	h2 := startUmbra(t, o.cfg2, o.a2)
	h2.dumpLogIfFailed()
	redir45Redirect(t, o, "redir45r")
	editConfig(t, o.cfg1, extra, "")
	if err := h1.hup(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-1's reload", 30*time.Second, func() bool {
		b, _ := os.ReadFile(h1.log)
		return strings.Contains(string(b), "configuration reloaded")
	})
	redir45Once(t, o, h1, "redir45r")
}
