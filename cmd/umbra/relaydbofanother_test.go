package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-7, W-6 (ident18 item 2b; rt24a F1): hub-a relays to hub-b in a
// shadow session. hub-a already knows hub-b's transport database id as
// another server's (hub-c's: a record naming hub-c, whose copies went
// to an address that is not hub-b's). The id hub-b presents goes through
// the one check on the relay path too: it is not recorded as hub-b's
// (WARN), as a contact presenting it is refused. Before rt24a F1 the
// relay went on and hub-a held a copy for hub-b — a copy no discard of
// hub-b's could ever confirm (its contacts are refused here), taken over
// at its expiry or at once while hub-b delivered its original. Now the
// message is not relayed to hub-b: it waits at hub-a with the reason,
// and shadow list shows hub-b refused.
func TestRelayNextHopPresentingAnotherServersDatabase(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	dataA := filepath.Join(p.dir, "hub-a", "data")
	// Each started once to make its database, then stopped.
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	b.kill()
	a.kill()
	dbB := databaseIDIn(t, p.dataB)
	sa, err := queue.Open(filepath.Join(dataA, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = sa.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.PutPeer(&queue.ShadowPeer{Primary: "hub-c", Addr: "127.0.0.9:25", DatabaseID: dbB, LastContact: time.Now()})
	})
	sa.Close()
	if err != nil {
		t.Fatal(err)
	}
	b = startUmbra(t, p.cfgB, p.b)
	a = startUmbra(t, p.cfgA, p.a)
	sendMany(p.a, "dbofanother", 1, 1, nil)
	type view struct {
		Primary    string
		State      string
		Refused    string
		Copies     int
		DatabaseID string `json:"database_id"`
	}
	var out string
	waitCond(t, "hub-a to show hub-b refused, no copy held", 45*time.Second, func() bool {
		var code int
		out, code = cli(t, p.cfgA, "shadow", "list", "--json")
		var vs []view
		if json.Unmarshal([]byte(out), &vs) != nil || code != 0 {
			return false
		}
		for _, v := range vs {
			if v.Primary == "hub-b" && v.DatabaseID == dbB {
				a.dumpLog()
				t.Fatalf("hub-b's record holds hub-c's database id %s: %s", dbB, out)
			}
			if v.Primary == "hub-b" && v.State == "refused" && v.Copies == 0 && strings.Contains(v.Refused, "is hub-c's here") {
				return true
			}
		}
		return false
	})
	// Two more retries, each refused (a fixed 2 s sleep could end before
	// them on a loaded machine, and pass with none): each must stay at
	// hub-a.
	const notRelayed = "Not relayed to hub-b: transport database id"
	waitLogCount(t, a, notRelayed, logCount(a, notRelayed)+2)
	if q := p.queued(t, p.cfgA); q["site:b"] != 1 || q["shadow:hub-b"] != 0 {
		a.dumpLog()
		t.Fatalf("hub-a's queues %v; want the message waiting for site b, no copy for hub-b", q)
	}
	if q := p.queued(t, p.cfgB); len(q) != 0 {
		for _, n := range q {
			if n != 0 {
				t.Fatalf("hub-b queued %v; want nothing relayed to it", q)
			}
		}
	}
	log, _ := os.ReadFile(a.log)
	if !strings.Contains(string(log), "another server") {
		a.dumpLog()
		t.Fatal("hub-a logged no WARN of the database id presented by hub-b being another server's")
	}
	_ = b
}
