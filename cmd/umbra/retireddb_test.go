package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// SR-7, W-6 (rt18d-F1): hub-a relays to hub-b in a shadow session and
// keeps the copy; hub-b is killed (-9), its data wiped, and started
// again: hub-a meets its new database id and takes the copy over. hub-b's
// old id is retired, not released: hub-c, an authenticated transport
// server of the topology, presenting it at XSHADOW … DB= is refused
// (550 5.7.1 … another server's here; nothing changed) and hub-a
// records nothing for hub-c (no "shadow server returned with a new
// transport database" for it).
func TestRetiredDatabaseIDRefusedToAnotherServer(t *testing.T) {
	dir := t.TempDir()
	a, b, c, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), reserveAddr(t, "127.0.0.3"), reserveAddr(t, "127.0.0.1")
	topoPath := threeSiteTopology(t, dir, a, b, c, sink, "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	sendMany(a, "retired", 1, 1, nil) // the sink is down: hub-b keeps it
	waitCond(t, "hub-a to hold the shadow copy for hub-b", 45*time.Second, func() bool { return p.queued(t, cfgA)["shadow:hub-b"] == 1 })
	dbOf := func() string {
		out, code := cli(t, cfgA, "shadow", "list", "--json")
		var vs []struct {
			Primary    string
			DatabaseID string `json:"database_id"`
		}
		if json.Unmarshal([]byte(out), &vs) != nil || code != 0 {
			return ""
		}
		for _, v := range vs {
			if v.Primary == "hub-b" {
				return v.DatabaseID
			}
		}
		return ""
	}
	old := dbOf()
	if len(old) != 32 {
		t.Fatalf("hub-b's database id on hub-a: %q", old)
	}
	hb.kill()
	os.RemoveAll(dataB)
	hb = startUmbra(t, cfgB, b)
	waitCond(t, "hub-a to meet hub-b's new database", 60*time.Second, func() bool {
		l, _ := os.ReadFile(ha.log)
		return strings.Contains(string(l), "was="+old)
	})
	// hub-c is met under an id of its own first, then presents hub-b's old one.
	s := rawDial(t, a)
	s.cmd("EHLO hub-c.test", "250")
	s.cmd("XSHADOW hub-c MARK DB=dbc-own", "250 ")
	s.cmd("QUIT", "221")
	s = rawDial(t, a)
	s.cmd("EHLO hub-c.test", "250")
	got := s.cmd("XSHADOW hub-c MARK DB="+old, "550 5.7.1")
	if want := "550 5.7.1 Database id " + old + " is another server's here; nothing changed"; got[len(got)-1] != want {
		t.Fatalf("hub-c presenting hub-b's retired id: %v; want %q", got, want)
	}
	s.cmd("XQUERYDISCARD 10", "503")
	s.cmd("QUIT", "221")
	l, _ := os.ReadFile(ha.log)
	for _, line := range strings.Split(string(l), "\n") {
		if strings.Contains(line, "shadow server returned with a new transport database") && strings.Contains(line, "shadow_server=hub-c") {
			ha.dumpLog()
			t.Fatalf("hub-a re-recorded hub-c's database: %s", line)
		}
	}
	if !strings.Contains(string(l), "shadow session refused: the presented transport database id is another server's") {
		ha.dumpLog()
		t.Fatal("hub-a logged no WARN of the refusal")
	}
	_ = hb
}
