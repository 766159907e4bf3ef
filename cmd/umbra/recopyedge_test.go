package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// edgeHubTopology writes dir/topology.yaml: one site s1 with the edge
// edge-e at e and the hub hub-h at h, the only source of the send
// connector "out" to smartHost — the edge relays everything to hub-h,
// and hub-h has no other hub to copy on receipt to. It returns the
// file's path.
func edgeHubTopology(t testing.TB, dir, e, h, smartHost string) string {
	t.Helper()
	topo := fmt.Sprintf(`sites:
  - {name: s1}
servers:
  - {name: edge-e, role: edge, site: s1, address: %q, source_addresses: [127.0.0.190]}
  - {name: hub-h, role: hub, site: s1, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-h], smart_hosts: [%q]}
`, e, h, smartHost)
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// SR-7, SR-17 (rt32a F1): an edge and one hub. The edge relays to the
// hub in a shadow session and keeps the copy; the hub's next hop is
// down. The edge loses its disk (kill -9, data_dir wiped) and comes back
// with a new transport database: the hub sees the new id and makes the
// copy again — on the edge, the server that held it, though no hub is a
// candidate for copies on receipt here. A later loss of the hub's own
// disk then loses nothing: the edge takes the copy over and it arrives
// once.
func TestShadowCopyRemadeOnReturningEdge(t *testing.T) {
	testShadowCopyRemadeOnEdge(t, false)
}

// SR-7, SR-17 (rt32a F1, umbra db restore): the same with the edge
// restored from a backup taken between two messages — the restored
// database has a new id and the first copy only. hub-h makes both copies
// again on the edge (the first is kept as that same copy: one per
// message), and a later loss of hub-h's disk loses neither.
func TestShadowCopyRemadeOnRestoredEdge(t *testing.T) {
	t.Parallel()
	testShadowCopyRemadeOnEdge(t, true)
}

func testShadowCopyRemadeOnEdge(t *testing.T, restore bool) {
	dir := t.TempDir()
	e, h, sinkAddr := freeAddr(t, "127.0.0.190"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	topoPath := edgeHubTopology(t, dir, e, h, sinkAddr)
	// The edge relays mail for the recipients' domain to the hubs of its
	// site (an edge routes only accepted domains to the organisation).
	cfgE, dataE := orgHub(t, dir, "edge-e", e, topoPath, "0s", "accepted_domains: [{domain: remote.example, type: internal_relay}]\n")
	editConfig(t, cfgE, "server: {name: edge-e,", "server: {name: edge-e, role: edge, source_address: 127.0.0.190,")
	cfgH, dataH := orgHub(t, dir, "hub-h", h, topoPath, "0s", "")

	hh := startUmbra(t, cfgH, h)
	he := startUmbra(t, cfgE, e)
	defer func() { he.dumpLogIfFailed(); hh.dumpLogIfFailed() }()
	p := &shadowPair{}
	acked := sendMany(e, "edgelost", 1, 1, nil)
	backup := filepath.Join(dir, "edge-e.backup")
	if restore {
		waitCond(t, "edge-e to hold the first copy for hub-h", 30e9, func() bool { s, _ := p.held(t, cfgE, "hub-h"); return s == 1 })
		if out, code := cli(t, cfgE, "db", "backup", backup); code != 0 {
			t.Fatalf("db backup: %d %s", code, out)
		}
		acked = append(acked, sendMany(e, "edgelost2", 1, 1, nil)...)
	}
	want := 1
	if restore {
		want = 2
	}
	if len(acked) != want {
		he.dumpLog()
		t.Fatalf("%d of %d acknowledged", len(acked), want)
	}
	waitCond(t, "edge-e to hold the copies for hub-h", 30e9, func() bool { s, _ := p.held(t, cfgE, "hub-h"); return s == want })

	he.kill()
	os.RemoveAll(dataE)
	if restore {
		if out, code := cli(t, cfgE, "db", "restore", "--owner", selfOwner(), backup); code != 0 {
			t.Fatalf("db restore: %d %s", code, out)
		}
	}
	he = startUmbra(t, cfgE, e)
	waitCond(t, "hub-h to see edge-e's new database", 30e9, func() bool {
		log, _ := os.ReadFile(hh.log)
		return strings.Contains(string(log), "shadow server returned with a new transport database")
	})
	waitCond(t, "hub-h to make the lost copies again on edge-e", 30e9, func() bool {
		if s, _ := p.held(t, cfgE, "hub-h"); s == want && strings.Contains(readLog(hh), "shadow copies made again") {
			return true
		}
		log, _ := os.ReadFile(hh.log)
		if strings.Contains(string(log), "no candidate for") {
			hh.dumpLog()
			t.Fatal("hub-h found no candidate for the copy made again: edge-e, which held it and answers, was not one")
		}
		return false
	})

	if s, _ := p.held(t, cfgE, "hub-h"); s != want {
		he.dumpLog()
		t.Fatalf("edge-e holds %d copies for hub-h, want %d (one per message)", s, want)
	}

	hh.kill()
	os.RemoveAll(dataH)
	hh = startUmbra(t, cfgH, h)
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, he)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

func readLog(d *daemon) string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}
