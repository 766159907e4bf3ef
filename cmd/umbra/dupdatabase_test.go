package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-7 (rt23a F1): hub-a holds the shadow copy of a message hub-b
// acknowledged, and keeps a database id as hub-c's. hub-b is killed
// (-9) and started again on a database with that id (a data dir copied
// from hub-c's host): every contact of hub-b is refused at hub-a
// (another server's id; nothing changed). Before, the refused contact
// counted as hub-b heard from: shadow list showed a stale unreachable
// with a takeover that slid forward forever, and the copy — whose
// original died with hub-b's database — was delivered by nobody. Now a
// refused contact is no contact: shadow list says refused, with the
// reply and the takeover time, and the copy is taken over.
func TestPrimaryPresentingAnotherServersDatabaseTakenOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c, sink := freeAddr(t, "127.0.0.185"), freeAddr(t, "127.0.0.185"), reserveAddr(t, "127.0.0.185"), reserveAddr(t, "127.0.0.1")
	topoPath := threeSiteTopology(t, dir, a, b, c, sink, "hub-b")
	// The database hub-b will be started on: hub-c's, as hub-a knows it.
	cloneDir := filepath.Join(dir, "clone")
	cloneID := databaseIDIn(t, cloneDir)

	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	// hub-a meets cloneID as hub-c's.
	s := rawDial(t, a)
	s.cmd("EHLO hub-c.test", "250")
	s.cmd("XSHADOW hub-c MARK DB="+cloneID, "250 ")
	s.cmd("QUIT", "221")
	p := &shadowPair{}
	sendMany(a, "dupdb", 1, 1, nil) // the sink is down: hub-b keeps it, hub-a the copy
	waitCond(t, "hub-a to hold the shadow copy for hub-b", 45*time.Second, func() bool { return p.queued(t, cfgA)["shadow:hub-b"] == 1 })
	hb.kill()
	os.RemoveAll(dataB)
	if err := os.Rename(cloneDir, dataB); err != nil {
		t.Fatal(err)
	}
	hb = startUmbra(t, cfgB, b)
	type view struct {
		Primary     string
		State       string
		Refused     string
		TakeoverAt  time.Time `json:"takeover_at"`
		TakenOver   int       `json:"taken_over_copies"`
		Unreachable string
	}
	row := func() (view, bool) {
		out, code := cli(t, cfgA, "shadow", "list", "--json")
		var vs []view
		if json.Unmarshal([]byte(out), &vs) != nil || code != 0 {
			return view{}, false
		}
		for _, v := range vs {
			if v.Primary == "hub-b" {
				return v, true
			}
		}
		return view{}, false
	}
	var seen view
	waitCond(t, "hub-a to show hub-b refused for presenting hub-c's database id", 60*time.Second, func() bool {
		v, ok := row()
		if ok && v.State == "refused" && strings.Contains(v.Refused, "is hub-c's here") {
			seen = v
			return true
		}
		return false
	})
	if seen.TakeoverAt.IsZero() && seen.TakenOver == 0 {
		t.Fatalf("hub-b refused here: %+v; want the takeover time", seen)
	}
	waitCond(t, "hub-a to take hub-b's copy over", 60*time.Second, func() bool {
		shadow, _ := p.held(t, cfgA, "hub-b")
		return shadow == 0
	})
	l, _ := os.ReadFile(ha.log)
	if n := strings.Count(string(l), "contact refused: the presented transport database id is another server's"); n < 1 || n > 2 {
		ha.dumpLog()
		t.Fatalf("%d WARNs of the refused contact; want one per state (at most two: hub-b was met under its id by one session more)", n)
	}
	_ = hb
}

// rt23a F1, the other order: hub-a met hub-b's database id first as
// hub-c's (hub-c ran a copy of hub-b's data dir), then relays to the
// genuine hub-b, whose id it therefore does not record. Before rt24a
// F1 the relay went on and hub-a held a copy no discard of hub-b's could
// confirm; now nothing is relayed to a server whose contacts are refused
// here: the message waits at hub-a, and shadow list says hub-b refused
// with what to do and no takeover; done in that order (hub-c presents an
// id of its own, then umbra shadow forget-database), hub-b is let in
// again (healthy) and the message goes to it, its copy held here — no
// takeover, so no duplicate against hub-b, which delivers it.
func TestGenuineOwnerRefusedRecoversByTheNamedCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c, sink := freeAddr(t, "127.0.0.185"), freeAddr(t, "127.0.0.185"), reserveAddr(t, "127.0.0.185"), reserveAddr(t, "127.0.0.1")
	topoPath := threeSiteTopology(t, dir, a, b, c, sink, "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	idB := databaseIDIn(t, dataB)
	ha := startUmbra(t, cfgA, a)
	s := rawDial(t, a) // hub-c presents hub-b's id first
	s.cmd("EHLO hub-c.test", "250")
	s.cmd("XSHADOW hub-c MARK DB="+idB, "250 ")
	s.cmd("QUIT", "221")
	hb := startUmbra(t, cfgB, b)
	p := &shadowPair{}
	sendMany(a, "genuine", 1, 1, nil) // not relayed while hub-b's contacts are refused here
	type view struct {
		Primary    string
		State      string
		Refused    string
		TakeoverAt time.Time `json:"takeover_at"`
	}
	row := func() view {
		out, _ := cli(t, cfgA, "shadow", "list", "--json")
		var vs []view
		json.Unmarshal([]byte(out), &vs)
		for _, v := range vs {
			if v.Primary == "hub-b" {
				return v
			}
		}
		return view{}
	}
	cmd := "umbra shadow forget-database " + idB
	var seen view
	waitCond(t, "hub-a to show hub-b refused, naming the command", 60*time.Second, func() bool {
		seen = row()
		return seen.State == "refused" && strings.Contains(seen.Refused, "is hub-c's here") && strings.Contains(seen.Refused, cmd)
	})
	if !seen.TakeoverAt.IsZero() {
		t.Fatalf("the genuine owner refused: %+v; want no takeover announced", seen)
	}
	time.Sleep(4 * time.Second) // 4 heartbeat timeouts, several retries
	if q := p.queued(t, cfgA); q["site:b"] != 1 || q["shadow:hub-b"] != 0 {
		t.Fatalf("hub-a's queues %v; want the message waiting for site b, not relayed to hub-b", q)
	}
	// While hub-c still holds the id here the command is refused, as the
	// advice orders: first the server running the copy gets a data dir of
	// its own, and presents its new id.
	if _, code := cli(t, cfgA, "shadow", "forget-database", idB); code != 1 {
		t.Fatalf("%s while hub-c's record holds the id: exit %d, want 1 (refused, nothing changed)", cmd, code)
	}
	s = rawDial(t, a)
	s.cmd("EHLO hub-c.test", "250")
	s.cmd("XSHADOW hub-c MARK DB=dbc-own", "250 ")
	s.cmd("QUIT", "221")
	if out, code := cli(t, cfgA, "shadow", "forget-database", idB); code != 0 {
		t.Fatalf("%s: exit %d: %s", cmd, code, out)
	}
	waitCond(t, "hub-b let in again after the command", 60*time.Second, func() bool {
		v := row()
		return v.State == "healthy" && v.Refused == ""
	})
	waitCond(t, "hub-a to relay the message to hub-b, its copy held", 60*time.Second, func() bool {
		shadow, _ := p.held(t, cfgA, "hub-b")
		return shadow == 1
	})
	_, _ = ha, hb
}
