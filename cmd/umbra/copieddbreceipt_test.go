package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-7, SR-11, SR-17 (rt24a F1's class, copies on receipt; left open by
// 61be2625): hub-c runs on a copy of hub-b's data dir, so it presents
// hub-b's transport database id, which hub-a keeps as hub-b's (it made a
// copy on receipt there first). hub-c's sessions to hub-a — its discard
// queries for the copies it keeps — are refused at hub-a, so a copy made
// on hub-c could never be discarded: hub-c took it over at its expiry
// while hub-a had delivered the original, and the message arrived twice.
// hub-c states its own name in its XSHADOW reply (shadow verbs 20), not
// the name hub-a keeps the id as: a copied database, not a misspelt
// holder (TestTypoOnPrimaryNoCopyOnHolderItRefuses). No copy on receipt is
// made on it; after the expiry of any copy hub-c could hold, every
// message has arrived exactly once.
func TestNoCopyOnReceiptOnCopiedDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.182"), freeAddr(t, "127.0.0.182"), freeAddr(t, "127.0.0.182")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topoPath := hubCInSiteBTopology(t, dir, a, b, c, sinkAddr, "hub-a", "hub-c")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, dataC := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")

	// hub-b makes its database; hub-c gets a copy of the data dir.
	hb := startUmbra(t, cfgB, b)
	hb.kill()
	copyDataDir(t, dataB, dataC)

	sink := startRecorder(t, sinkAddr)
	hb = startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}
	// hub-a meets hub-b's database under hub-b's name (hub-c is down).
	if reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: first\r\n\r\nbody"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the copy on hub-b", reply)
	}
	waitArrived(t, sink, []string{"first"}, ha)
	waitCond(t, "hub-b to drop the first copy", 30*time.Second, func() bool { s, w := p.held(t, cfgB, "hub-a"); return s == 0 && w == 0 })

	// hub-b goes down; hub-c, on the copy of its data dir, comes up.
	hb.kill()
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	acked := []string{"first"}
	for i := 0; i < 2; i++ {
		subj := fmt.Sprintf("copied-%d", i)
		reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, "Subject: "+subj+"\r\n\r\nbody")
		if !strings.HasPrefix(reply, "250") {
			t.Fatalf("reply %q: want a 250 (reject_on_shadow_failure is off)", reply)
		}
		if strings.Contains(reply, "shadow copy on hub-c") {
			t.Errorf("reply %q: a copy on receipt was made on hub-c, which presents hub-b's database", reply)
		}
		acked = append(acked, subj)
	}
	waitArrived(t, sink, acked, ha)
	time.Sleep(2 * time.Second) // heartbeats of hub-c to hub-a: refused there
	if s, w := p.held(t, cfgC, "hub-a"); s != 0 || w != 0 {
		t.Errorf("hub-c holds %d copies of hub-a's (%d pending); want none made on a server whose sessions hub-a refuses", s, w)
	}
	if b, _ := os.ReadFile(ha.log); !strings.Contains(string(b), "no copy on receipt on a shadow server presenting another server's transport database id") {
		t.Errorf("hub-a logged no refusal of the copy on hub-c")
	}
	// The operator sees it in queue destinations: tried last.
	out, _ := cli(t, cfgA, "queue", "destinations", "--json")
	var ds []struct{ Name, State string }
	json.Unmarshal([]byte(out), &ds)
	refusedRow := false
	for _, d := range ds {
		refusedRow = refusedRow || d.Name == "server:refused:hub-c"
	}
	if !refusedRow {
		t.Errorf("queue destinations on hub-a has no server:refused:hub-c row:\n%s", out)
	}

	// The expiry of any copy hub-c holds: its arrival put back past
	// message_expiration and the hour after it; the start's prune takes
	// such a copy over, and hub-c delivers it.
	hc.kill()
	backdated := backdateShadowCopies(t, filepath.Join(dataC, "queue.db"), 30*24*time.Hour)
	hc = startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	waitCond(t, "hub-c to have nothing queued", 30*time.Second, func() bool {
		n := 0
		for _, k := range p.queued(t, cfgC) {
			n += k
		}
		return n == 0
	})
	time.Sleep(3 * time.Second) // a second delivery, if any, comes now
	for _, s := range acked {
		if n := sink.counts()[s]; n != 1 {
			t.Errorf("%s arrived %d times; want once (%d copies on hub-c expired)", s, n, backdated)
		}
	}
}

// backdateShadowCopies puts the arrival of every shadow copy in the
// stopped server's database at path back by d, and returns their count.
func backdateShadowCopies(t *testing.T, path string, d time.Duration) int {
	t.Helper()
	s, err := queue.Open(path, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	err = s.Update(context.Background(), func(tx *queue.Tx) error {
		n = 0
		for _, st := range tx.Queues() {
			if !strings.HasPrefix(st.Name, "shadow:") {
				continue
			}
			for _, id := range tx.InQueue(st.Name, 10000) {
				m, err := tx.Get(id)
				if err != nil {
					return err
				}
				if m.State != queue.Shadow {
					continue
				}
				m.Arrived = m.Arrived.Add(-d)
				if err := tx.Put(m); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
