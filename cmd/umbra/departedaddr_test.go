package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rt44-shadow4 F1 (SR-6, SR-13, SR-15, SR-17): h1 takes three messages
// with shadow_on_receipt, their copies on h3; the outside sink defers
// them, so h1 keeps them. A reload gives h3 a topology that replaces h1
// by a new hub, h4, at h1's address (another port of the same host); h4
// never runs. A session from that host to h3 stating h4 and presenting
// no database id, or another than h1's, is the topology's h4 — not h1:
// its XDISCARD of h1's copies (their org ids) discards nothing ("0
// discards applied, 3 not held for you"). h1 then dies for good (kill
// -9, data dir gone): h3 takes the copies over and delivers each
// message once. Before, h3 took the session for h1 (its record, kept
// under a name the topology no longer lists, at h4's address), dropped
// the three copies, and the mail was lost.
func TestSR6DepartedAddrServerDiscardsNothing(t *testing.T) {
	dir := t.TempDir()
	const ip1, ip3 = "127.0.0.155", "127.0.0.156"
	h1, h4 := laneAddrIn(t, ip1, 12000, 13000), laneAddrIn(t, ip1, 12000, 13000)
	h3, sinkAddr := laneAddrIn(t, ip3, 12000, 13000), laneAddrIn(t, "127.0.0.157", 12000, 13000)
	topology := func(first, addr string) string {
		return fmt.Sprintf(`sites:
  - {name: s1}
  - {name: s3}
site_links:
  - {name: s1-s3, sites: [s1, s3], cost: 10}
servers:
  - {name: %s, role: hub, site: s1, address: %q, source_addresses: [%s]}
  - {name: h3.rt.test, role: hub, site: s3, address: %q, source_addresses: [%s]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [%s, h3.rt.test], smart_hosts: [%q]}
`, first, addr, ip1, h3, ip3, first, sinkAddr)
	}
	topo1, topo3 := filepath.Join(dir, "topology-1.yaml"), filepath.Join(dir, "topology-3.yaml")
	for _, p := range []string{topo1, topo3} {
		if err := os.WriteFile(p, []byte(topology("h1.rt.test", h1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg1, data1 := orgHub(t, dir, "h1.rt.test", h1, topo1, "0s", "    shadow_on_receipt: prefer-remote\n")
	cfg3, _ := orgHub(t, dir, "h3.rt.test", h3, topo3, "0s", "")
	editConfig(t, cfg1, `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip1+`}`)
	editConfig(t, cfg3, `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip3+`}`)
	sink := startRcptSink(t, sinkAddr, "b@remote.example") // defers every message
	d3 := startUmbra(t, cfg3, h3)
	d1 := startUmbra(t, cfg1, h1)
	d1.dumpLogIfFailed()
	d3.dumpLogIfFailed()
	var subjects []string
	for i := range 3 {
		subj := fmt.Sprintf("departedaddr-%d", i)
		if r := rawSend(t, h1, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nhello"); !strings.HasPrefix(r, "250") || !strings.Contains(r, "shadow copy on h3.rt.test") {
			t.Fatalf("%s: %q; want a 250 naming the shadow copy on h3.rt.test", subj, r)
		}
		subjects = append(subjects, subj)
	}
	p := &shadowPair{}
	waitCond(t, "h3 to hold the three copies for h1", 30*time.Second, func() bool { s, _ := p.held(t, cfg3, "h1.rt.test"); return s == 3 })
	out, _ := cli(t, cfg1, "track", "--json", "--sender", "a@example.org")
	orgIDs := map[string]bool{}
	for _, m := range regexp.MustCompile(`"org_id": "([0-9a-f]+)"`).FindAllStringSubmatch(out, -1) {
		orgIDs[m[1]] = true
	}
	if len(orgIDs) != 3 {
		t.Fatalf("h1's tracking log names %d org ids, want 3:\n%s", len(orgIDs), out)
	}
	var ids []string
	for id := range orgIDs {
		ids = append(ids, id)
	}

	// The reload: h4 at h1's address in h3's topology, h1 gone from it.
	reloadDaemon(t, d3, func() {
		if err := os.WriteFile(topo3, []byte(topology("h4.rt.test", h4)), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if out, _ := cli(t, cfg3, "shadow", "list"); !strings.Contains(out, "not in topology") {
		t.Fatalf("h3's shadow list does not mark h1 not in topology:\n%s", out)
	}
	for _, present := range []string{"", " MARK DB=0123456789abcdef0123456789abcdef"} {
		c := rawDialFrom(t, ip1, h3)
		c.cmd("EHLO h4.rt.test", "250")
		c.cmd("XSHADOW h4.rt.test"+present, "250")
		if got := c.cmd("XDISCARD "+strings.Join(ids, " "), "250"); !strings.Contains(got[len(got)-1], "0 discards applied, 3 not held for you") {
			t.Errorf("h4 (XSHADOW h4.rt.test%s) pushing the discards of h1's copies: %q; want none applied", present, got)
		}
		c.cmd("QUIT", "221")
	}
	if s, _ := p.held(t, cfg3, "h1.rt.test"); s != 3 {
		t.Fatalf("h3 holds %d copies for h1 after h4's sessions, want 3", s)
	}

	// h1 dies for good: h3 takes its copies over and delivers them.
	d1.kill()
	os.RemoveAll(data1)
	sink.defOn.Store(false)
	waitCond(t, "every message delivered", 90*time.Second, func() bool {
		for _, s := range subjects {
			if sink.count("b@remote.example", s) == 0 {
				return false
			}
		}
		return true
	})
	for _, s := range subjects {
		if k := sink.count("b@remote.example", s); k != 1 {
			t.Errorf("%s delivered %d times; want once", s, k)
		}
	}
}
