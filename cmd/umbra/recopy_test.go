package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// NEW-4: hub-a copies on receipt to hub-b while its next hop is down;
// hub-b then loses its disk (kill -9, data_dir wiped) and comes back
// with a new transport database. hub-a notices the new database id at
// its next contact with hub-b and makes the lost copies again, so that a
// later loss of hub-a's own disk loses no acknowledged message: hub-b
// takes the re-made copies over and delivers each once.
func TestShadowCopiesRemadeAfterShadowServerDiskLoss(t *testing.T) {
	t.Parallel()
	testShadowCopiesRemade(t, false)
}

// NEW-4 with umbra db restore: hub-b is restored from a backup taken
// when it held 2 of the 4 copies. The restored database has a new id;
// hub-a makes every copy again (the 2 hub-b has already are kept once),
// and a loss of hub-a's disk then loses nothing.
func TestShadowCopiesRemadeAfterShadowServerRestore(t *testing.T) {
	t.Parallel()
	testShadowCopiesRemade(t, true)
}

func testShadowCopiesRemade(t *testing.T, restore bool) {
	o := newReceiptHubs(t, "prefer-remote", false)
	dir, a, b, sinkAddr, cfgA, dataA, cfgB, dataB := o.dir, o.a, o.b, o.sink, o.cfgA, o.dataA, o.cfgB, o.dataB

	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	backup := filepath.Join(dir, "hub-b.backup")
	acked := sendMany(a, "remade", 2, 2, nil)
	if restore {
		waitCond(t, "hub-b to hold the first copies", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 2 })
		if out, code := cli(t, cfgB, "db", "backup", backup); code != 0 {
			t.Fatalf("db backup: %d %s", code, out)
		}
	}
	acked = append(acked, sendMany(a, "remade2", 2, 2, nil)...)
	if len(acked) != 4 {
		ha.dumpLog()
		t.Fatalf("%d of 4 acknowledged", len(acked))
	}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 4 })

	hb.kill()
	os.RemoveAll(dataB)
	if restore {
		if out, code := cli(t, cfgB, "db", "restore", "--owner", selfOwner(), backup); code != 0 {
			t.Fatalf("db restore: %d %s", code, out)
		}
	}
	hb = startUmbra(t, cfgB, b)
	waitCond(t, "hub-a to make the lost copies again on hub-b", 60e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 4 })
	log, _ := os.ReadFile(ha.log)
	if !strings.Contains(string(log), "shadow server returned with a new transport database") {
		ha.dumpLog()
		t.Error("hub-a did not log the shadow server's new database")
	}

	ha.kill()
	os.RemoveAll(dataA)
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, hb)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// A snapshot rollback of the primary: hub-a's data_dir is copied while it
// is stopped, hub-a runs on and copies 2 more messages to hub-b on
// receipt, then it is killed and the copy put back (a VM snapshot, a file
// restore): the same database id, without the 2 messages. hub-b saw a
// higher mark of hub-a's than the rolled-back database presents, takes
// its copies over as for a new database, and every acknowledged message
// arrives (the 2 older ones possibly twice: the takeover's outside
// duplicate).
func TestShadowServerDetectsPrimaryRollback(t *testing.T) {
	o := newReceiptHubs(t, "prefer-remote", false)
	dir, a, b, sinkAddr, cfgA, dataA, cfgB := o.dir, o.a, o.b, o.sink, o.cfgA, o.dataA, o.cfgB

	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	acked := sendMany(a, "before", 2, 2, nil)
	waitCond(t, "hub-b to hold the first copies", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 2 })
	ha.kill()
	snap := filepath.Join(dir, "hub-a.snapshot")
	if out, err := exec.Command("cp", "-a", dataA, snap).CombinedOutput(); err != nil {
		t.Fatalf("snapshot: %v %s", err, out)
	}
	ha = startUmbra(t, cfgA, a)
	acked = append(acked, sendMany(a, "after", 2, 2, nil)...)
	if len(acked) != 4 {
		ha.dumpLog()
		t.Fatalf("%d of 4 acknowledged", len(acked))
	}
	waitCond(t, "hub-b to hold every copy", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 4 })

	ha.kill()
	os.RemoveAll(dataA)
	if out, err := exec.Command("cp", "-a", snap, dataA).CombinedOutput(); err != nil {
		t.Fatalf("rollback: %v %s", err, out)
	}
	ha = startUmbra(t, cfgA, a)
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, hb)
	log, _ := os.ReadFile(hb.log)
	if !strings.Contains(string(log), "rolled back") {
		hb.dumpLog()
		t.Error("hub-b did not log the primary's rolled-back database")
	}
}

// F10: hub-b relays to hub-a in shadow sessions (only hub-a reaches the
// next hop, which is down: hub-a keeps the mail, hub-b its shadow
// copies). hub-b is restored from a backup older than the first message
// (a new transport database without that copy), and a second message is
// relayed at once. Only the first copy was lost with the old database:
// hub-a learns hub-b's new id in the relay's session, before the
// relayed message's commit, and makes again the first copy alone —
// hub-b holds one copy of each message, not two of the second.
func TestShadowCopyRelayedAfterRestoreNotRemade(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.1")
	topoPath := twoSiteTopology(t, dir, a, b, sinkAddr, "hub-a")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	// hub-a probes its shadow servers every 10s: long enough that the
	// relay session, not a probe, is where it meets hub-b's new id.
	editConfig(t, cfgA, "shadow_heartbeat_timeout: 1s", "shadow_heartbeat_timeout: 10s")

	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	backup := filepath.Join(dir, "hub-b.backup")
	if out, code := cli(t, cfgB, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: %d %s", code, out)
	}
	acked := sendMany(b, "before", 1, 1, nil)
	waitCond(t, "hub-b to hold the first copy for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
	// One probe pass of hub-a at least (without the relay's own
	// record, the old id is recorded by it).
	time.Sleep(11 * time.Second)

	hb.kill()
	os.RemoveAll(dataB)
	if out, code := cli(t, cfgB, "db", "restore", "--owner", selfOwner(), backup); code != 0 {
		t.Fatalf("db restore: %d %s", code, out)
	}
	hb = startUmbra(t, cfgB, b)
	acked = append(acked, sendMany(b, "after", 1, 1, nil)...)
	if len(acked) != 2 {
		hb.dumpLog()
		t.Fatalf("%d of 2 acknowledged", len(acked))
	}
	waitCond(t, "hub-a to make the lost copy again", 60e9, func() bool {
		log, _ := os.ReadFile(ha.log)
		return strings.Contains(string(log), "shadow copies made again")
	})
	log, _ := os.ReadFile(ha.log)
	if !regexp.MustCompile(`msg="shadow copies made again".* messages=1\b`).Match(log) {
		ha.dumpLog()
		t.Errorf("hub-a made again more than the one lost copy")
	}
	if s, _ := p.held(t, cfgB, "hub-a"); s != 2 {
		hb.dumpLog()
		t.Errorf("hub-b holds %d shadow copies for hub-a, want 2 (one per message)", s)
	}
}

// hub-b relays to hub-a in a shadow session and keeps the copy; it is
// then restored from a backup taken after that (a new transport database
// that still holds the copy). hub-a sees the new id and makes the copy
// again, pushed to hub-b: hub-b keeps one copy of the message — the
// push is filed as the copy it relayed — not two, one of which no
// discard of hub-a's would ever settle.
func TestShadowCopyPushedAgainOverRestoredRelayedCopyIsOne(t *testing.T) {
	dir := t.TempDir()
	a, b, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, b, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topoPath, []byte(topo), 0o600)
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	if acked := sendMany(b, "relayed", 1, 1, nil); len(acked) != 1 {
		t.Fatal("the message was not acknowledged")
	}
	waitCond(t, "hub-b to hold the copy for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
	backup := filepath.Join(dir, "hub-b.backup")
	if out, code := cli(t, cfgB, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: %d %s", code, out)
	}
	hb.kill()
	os.RemoveAll(dataB)
	if out, code := cli(t, cfgB, "db", "restore", "--owner", selfOwner(), backup); code != 0 {
		t.Fatalf("db restore: %d %s", code, out)
	}
	hb = startUmbra(t, cfgB, b)
	waitCond(t, "hub-a to make the copy again", 60e9, func() bool {
		log, _ := os.ReadFile(ha.log)
		return strings.Contains(string(log), "shadow copies made again")
	})
	// The push was committed at hub-b before hub-a recorded it and logged.
	if s, _ := p.held(t, cfgB, "hub-a"); s != 1 {
		hb.dumpLog()
		t.Fatalf("hub-b holds %d shadow copies for hub-a, want 1", s)
	}
}
