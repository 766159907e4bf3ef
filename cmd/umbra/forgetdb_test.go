package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// ident18 item 2a: umbra shadow forget-database forgets a database id met
// as a server's whose record went (exit 0, naming it); it refuses an id
// a primary's record still holds (exit 1, nothing changed), an id never
// met (exit 3) and text that is no database id (exit 64).
func TestShadowForgetDatabase(t *testing.T) {
	p := newShadowPair(t)
	a := startUmbra(t, p.cfgA, p.a) // makes its database
	a.kill()
	sa, err := queue.Open(filepath.Join(p.dir, "hub-a", "data", "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = sa.Update(context.Background(), func(tx *queue.Tx) error {
		now := time.Now()
		if err := tx.PutPeer(&queue.ShadowPeer{Primary: "hub-gone", Addr: "127.0.0.9:25", DatabaseID: "db-gone", LastContact: now}); err != nil {
			return err
		}
		if err := tx.PutPeer(&queue.ShadowPeer{Primary: "hub-b", Addr: p.b, DatabaseID: "db-kept", LastContact: now}); err != nil {
			return err
		}
		return tx.DeletePeer("hub-gone")
	})
	sa.Close()
	if err != nil {
		t.Fatal(err)
	}
	a = startUmbra(t, p.cfgA, p.a)
	held := exec.Command(umbraBin, "--config", p.cfgA, "shadow", "forget-database", "db-kept")
	if out, err := held.CombinedOutput(); held.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "hub-b") {
		t.Fatalf("forgetting an id hub-b's record holds: %v\n%s", err, out)
	}
	out, code := cli(t, p.cfgA, "shadow", "forget-database", "db-gone")
	if code != 0 || !strings.Contains(out, "forgot transport database id db-gone (met as hub-gone)") {
		t.Fatalf("forget-database db-gone: exit %d\n%s", code, out)
	}
	if out, code := cli(t, p.cfgA, "shadow", "forget-database", "db-gone"); code != 3 {
		t.Fatalf("forgetting it again: exit %d, want 3\n%s", code, out)
	}
	if out, code := cli(t, p.cfgA, "shadow", "forget-database", "no*id"); code != 64 {
		t.Fatalf("forgetting no database id: exit %d, want 64\n%s", code, out)
	}
	if l, _ := os.ReadFile(a.log); !strings.Contains(string(l), "transport database id forgotten by the operator") {
		t.Fatal("no WARN of the forgotten id")
	}
}
