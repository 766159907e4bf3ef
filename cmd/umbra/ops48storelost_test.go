package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ops48 F3: a one-character typo in the topology's recipient map
// (`match: old.tset` for `old.test`), reloaded with SIGHUP, succeeded
// with a warning and delivered the domain's mail, the queued mail too,
// into the hub's own Maildir, a store no user of the database reads. A
// reload that would take an authoritative domain the running topology
// maps to a mailbox database into this server's own store is refused
// at the topology's line, naming the domain and the mapping it loses;
// the running topology stays and the domain's mail goes on to its
// database. The sibling: a reload that drops the topology altogether.
func TestOps48ReloadRefusesToMoveADomainIntoTheOwnStore(t *testing.T) {
	dir := t.TempDir()
	hubAddr, legacyAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.4")
	rec := startRecorder(t, legacyAddr)
	topo := filepath.Join(dir, "topology.yaml")
	// The domain mapped whole, no address listed (a listed address
	// under the typo's domain is refused on its own).
	good := strings.Replace(legacyTopology(hubAddr, legacyAddr, "", "alice@old.test"), ", addresses: [alice@old.test]", "", 1)
	os.WriteFile(topo, []byte(good), 0o600)
	cfg := topoHub(t, dir, hubAddr, "1s", topo)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "type: authoritative}", "type: authoritative, recipient_validation: off}", 1))
	os.WriteFile(cfg, text, 0o600)
	hub := startUmbra(t, cfg, hubAddr)
	hub.dumpLogIfFailed()
	for i, c := range []struct{ name, cfg, topo, want string }{
		{"typo in the match", string(text), strings.Replace(good, "match: old.test", "match: old.tset", 1), "topology.yaml:6: "},
		{"topology dropped", strings.Replace(string(text), "topology: "+topo+"\n", "", 1), good, "hub.yaml:"},
	} {
		os.WriteFile(topo, []byte(c.topo), 0o600)
		os.WriteFile(cfg, []byte(c.cfg), 0o600)
		// config check asks the running hub: the same refusal, before
		// the reload (cfgcheck49).
		chk := exec.Command(umbraBin, "config", "check", cfg)
		chk.Env = append(os.Environ(), "UMBRA_SOCKET=", "UMBRA_CONFIG=")
		if out, err := chk.CombinedOutput(); err == nil || !strings.Contains(string(out), c.want) ||
			!strings.Contains(string(out), `accepted domain "old.test" is mapped by the running topology`) {
			t.Fatalf("%s: config check did not refuse at %s what the reload refuses: %v\n%s", c.name, c.want, err, out)
		}
		before, _ := os.ReadFile(hub.log)
		hub.hup()
		waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
			b, _ := os.ReadFile(hub.log)
			s := string(b[len(before):])
			return strings.Contains(s, "reload failed") || strings.Contains(s, "configuration reloaded")
		})
		b, _ := os.ReadFile(hub.log)
		got := string(b[len(before):])
		if !strings.Contains(got, "reload failed") || !strings.Contains(got, c.want) || !strings.Contains(got, `accepted domain \"old.test\" is mapped by the running topology`) ||
			!strings.Contains(got, "DB-OLD") {
			t.Fatalf("%s: the reload was not refused at %s naming old.test and DB-OLD:\n%s", c.name, c.want, got)
		}
		subj := "to-legacy-after-" + string(rune('a'+i))
		if r := rawSend(t, hubAddr, "s@example.org", []string{"alice@old.test"}, "Subject: "+subj+"\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
			t.Fatalf("%s: DATA after the refused reload: %s", c.name, r)
		}
		waitArrived(t, rec, []string{subj}, hub)
	}
	// Restored, the file reloads.
	os.WriteFile(topo, []byte(good), 0o600)
	os.WriteFile(cfg, text, 0o600)
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
}
