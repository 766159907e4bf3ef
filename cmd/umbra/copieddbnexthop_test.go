package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-7, SR-11 (rt24a F1): hub-a relays six messages to site s,
// whose hubs hub-b and hub-c both send to the sink (which defers them):
// hub-a holds their copies, about half for each. hub-b is killed (-9)
// and started again on a copy of hub-c's data dir (taken before any
// mail: two hosts with one database id). hub-a refuses hub-b's contacts
// (hub-c's id) and takes hub-b's copies over — their originals died with
// hub-b's database. Before, hub-a relayed a taken-over copy straight back
// to hub-b, the server whose contacts it refuses: hub-b queued it as a
// live original, hub-a took its fresh copy over at once (hub-b's stored
// id is not the one it presents: "taken over while in delivery") and
// relayed it again, at last to hub-c: queued on both hubs, delivered
// twice. Now a next hop whose XSHADOW presents a database id this server
// keeps as another server's gets no relay: each copy goes to hub-c,
// hub-b's queue stays empty, every message is delivered once. And
// hub-a's shadow list keeps a refused row for hub-b while the refusal
// stands, though no copy is held for it any more.
func TestTakenOverCopyNotRelayedToRefusedNextHop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.188"), freeAddr(t, "127.0.0.189"), freeAddr(t, "127.0.0.190")
	sinkAddr := freeAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: s}
site_links:
  - {name: a-s, sites: [a, s], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: s, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: s, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-b, hub-c], smart_hosts: [%q]}
`, a, b, c, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, dataC := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")

	// hub-c makes its database; a copy of its data dir is taken while
	// it holds nothing (only hub-b's own mail can then be delivered
	// twice: the copy brings no message of hub-c's).
	hc := startUmbra(t, cfgC, c)
	hc.kill()
	clone := filepath.Join(dir, "clone")
	copyDataDir(t, dataC, clone)
	sink := startRcptSink(t, sinkAddr, "b@remote.example") // defers every message
	hc = startUmbra(t, cfgC, c)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}
	const n = 6
	subjects := sendMany(a, "copieddb", n, 1, nil)
	if len(subjects) != n {
		t.Fatalf("%d of %d messages acknowledged", len(subjects), n)
	}
	waitCond(t, "hub-a to hold the six copies, for hub-b and hub-c", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["shadow:hub-b"]+q["shadow:hub-c"] == n && q["shadow:hub-b"] > 0
	})
	heldB := p.queued(t, cfgA)["shadow:hub-b"]

	// hub-b crashes and comes back on the copy of hub-c's data dir.
	hb.kill()
	os.RemoveAll(dataB)
	if err := os.Rename(clone, dataB); err != nil {
		t.Fatal(err)
	}
	hb = startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	waitCond(t, "hub-a to take hub-b's copies over", 60*time.Second, func() bool {
		shadow, _ := p.held(t, cfgA, "hub-b")
		return shadow == 0
	})
	// The taken-over copies go on to site s; each must end held for
	// hub-c, none relayed to hub-b.
	waitCond(t, "hub-a to hold every copy for hub-c", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["shadow:hub-c"] == n && q["shadow:hub-b"] == 0
	})
	total := 0
	for _, k := range p.queued(t, cfgB) {
		total += k
	}
	if total != 0 {
		t.Errorf("hub-b (running a copy of hub-c's database, its contacts refused at hub-a) queued %d messages: %v; want none relayed to it", total, p.queued(t, cfgB))
	}

	// shadow list on hub-a: hub-b refused, although it holds no copy
	// for it any more.
	type view struct {
		Primary string
		State   string
		Refused string
	}
	refusedRow := func() (view, string) {
		out, _ := cli(t, cfgA, "shadow", "list", "--json")
		var vs []view
		json.Unmarshal([]byte(out), &vs)
		for _, v := range vs {
			if v.Primary == "hub-b" {
				return v, out
			}
		}
		return view{}, out
	}
	var out string
	var row view
	waitCond(t, "hub-a's shadow list to show hub-b refused with no copy held", 30*time.Second, func() bool {
		row, out = refusedRow()
		return row.State == "refused" && strings.Contains(row.Refused, "is hub-c's here")
	})

	// The sink accepts: every message delivered once.
	sink.defOn.Store(false)
	waitCond(t, "every message delivered", 90*time.Second, func() bool {
		for _, s := range subjects {
			if sink.count("b@remote.example", s) == 0 {
				return false
			}
		}
		return true
	})
	waitCond(t, "hub-a to have no copy left, hub-c no message", 60*time.Second, func() bool {
		qa, left := p.queued(t, cfgA), 0
		for _, k := range p.queued(t, cfgC) {
			left += k
		}
		return qa["shadow:hub-c"] == 0 && qa["shadow:hub-b"] == 0 && left == 0
	})
	time.Sleep(3 * time.Second) // several retry intervals: a second delivery would come now
	for _, s := range subjects {
		if k := sink.count("b@remote.example", s); k != 1 {
			t.Errorf("%s delivered %d times; want once (hub-b held %d of the copies)", s, k, heldB)
		}
	}
	_, _ = hc, out
}

// copyDataDir copies the regular files and directories of a stopped
// server's data dir (cp -a, without its admin socket).
func copyDataDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o700)
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, 0o600)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
