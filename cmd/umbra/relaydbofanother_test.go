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

// SR-7, W-6 (ident18 item 2b): hub-a relays to hub-b in a shadow
// session and keeps the copy. hub-a already knows hub-b's transport
// database id as another server's (hub-c's: a record naming hub-c,
// whose copies went to an address that is not hub-b's). The id hub-b
// presents goes through the one check on the relay path too: it is not
// recorded as hub-b's (WARN), as a contact presenting it is refused; the
// copy stays held for hub-b.
func TestRelayNextHopPresentingAnotherServersDatabase(t *testing.T) {
	p := newShadowPair(t)
	dataA := filepath.Join(p.dir, "hub-a", "data")
	// Each started once to make its database, then stopped.
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	b.kill()
	a.kill()
	sb, err := queue.Open(filepath.Join(p.dataB, "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dbB := sb.DatabaseID()
	sb.Close()
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
	sendMany(p.a, "dbofanother", 1, 1, nil) // the sink is down: hub-b keeps it
	waitCond(t, "hub-a to hold the shadow copy for hub-b", 45*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 1 })
	out, code := cli(t, p.cfgA, "shadow", "list", "--json")
	var vs []struct {
		Primary    string
		Copies     int
		DatabaseID string `json:"database_id"`
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil || code != 0 {
		t.Fatalf("shadow list: %d %s", code, out)
	}
	for _, v := range vs {
		if v.Primary == "hub-b" && v.DatabaseID == dbB {
			a.dumpLog()
			t.Fatalf("hub-b's record holds hub-c's database id %s: %s", dbB, out)
		}
	}
	log, _ := os.ReadFile(a.log)
	if !strings.Contains(string(log), "another server") {
		a.dumpLog()
		t.Fatal("hub-a logged no WARN of the database id presented by hub-b being another server's")
	}
	_ = b
}
