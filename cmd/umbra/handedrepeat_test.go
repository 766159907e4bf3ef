package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/admin"
	"umbra/internal/dumpster"
	"umbra/internal/mailbox"
)

// TD-1, SR-6: hub-a and hub-c deliver into one Maildir store for MDB01;
// hub-a's connector copies on receipt to hub-b (remote-only: hub-b is
// the only hub of another site), which has no store of its own. hub-a
// is killed -9 after its Maildir write and before the commit that
// carried its duplicate record and dumpster copy (made by hand as in
// TestTakenOverCopyFoundInSharedMaildirKeepsDumpsterCopy: hub-a's own
// store refuses the write, and the file it would have written is put
// into the shared store after the kill). hub-b takes the copy over and
// hands it to hub-c instead of delivering it (its operator redirects
// the route's queue there). hub-c finds hub-a's file: the copy came
// marked as one that may repeat a lost write (X-Umbra-Repeat), so
// hub-c keeps the dumpster copy. It kept none: hub-a, back, drops its
// original as finished elsewhere, and the message was in no dumpster.
func TestTakenOverCopyHandedToHubOfSharedMaildirKeepsDumpsterCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ip = "127.0.0.213"
	a, b, c, sink := freeAddr(t, ip), freeAddr(t, ip), freeAddr(t, ip), reserveAddr(t, ip) // nothing listens at sink
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links: [{name: a-b, sites: [a, b], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [%s]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [%s]}
  - {name: hub-c, role: hub, site: a, address: %q, source_addresses: [%s]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-b], smart_hosts: [%q]}
`, a, ip, b, ip, c, ip, sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	store, broken := filepath.Join(dir, "shared-maildir"), filepath.Join(dir, "broken-maildir")
	os.MkdirAll(broken, 0o700)
	os.WriteFile(filepath.Join(broken, "example.test"), nil, 0o600) // no folder can be made under it: hub-a's write fails
	stored := "accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\nmailbox: {maildir: %q, database: MDB01}\n"
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), fmt.Sprintf(stored, broken))
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", fmt.Sprintf(stored, store))
	for _, cfg := range []string{cfgA, cfgB, cfgC} {
		editConfig(t, cfg, `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip+`}`)
	}
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	msg := "Message-ID: <handed-found@example.org>\r\nSubject: taken over, handed on\r\n\r\nkept once\r\n"
	if r := rawSend(t, a, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") || !strings.Contains(r, "shadow copy on hub-b") {
		t.Fatalf("send: %q, want a 250 naming the copy on hub-b", r)
	}
	var org string
	waitCond(t, "hub-a's attempt deferred", 30*time.Second, func() bool {
		out, _ := cli(t, cfgA, "message", "list", "--json", "--state", "retry")
		var ms []admin.MessageView
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
			return false
		}
		org = ms[0].OrgID
		return org != ""
	})
	ha.kill()
	// What hub-a's lost attempt wrote into the shared store.
	newDir := filepath.Join(store, "example.test", "bob", "new")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(store, "example.test", "bob", sub), 0o700)
	}
	if err := os.WriteFile(filepath.Join(newDir, mailbox.Name("MDB01", org, "bob@example.test")), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}

	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, cfgB, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	// hub-b cannot deliver into the store: its operator hands the copy
	// to hub-c, a hub of the store.
	waitCond(t, "hub-b to hand the copy to hub-c", 60*time.Second, func() bool {
		out, code := cli(t, cfgB, "queue", "redirect", "smarthost:out", "--to", c, "--json")
		var r struct {
			Messages int `json:"messages"`
		}
		return code == 0 && json.Unmarshal([]byte(out), &r) == nil && r.Messages > 0
	})
	waitCond(t, "hub-c found hub-a's file", 60*time.Second, func() bool {
		out, _ := cli(t, cfgC, "track", "--event", "duplicate-suppressed", "--json")
		return strings.Contains(out, "handed-found@example.org")
	})
	var kept []dumpster.Entry
	waitCond(t, "hub-c's dumpster copy of the message it found", 30*time.Second, func() bool {
		out, code := cli(t, cfgC, "dumpster", "list", "--database", "MDB01", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &kept) == nil && len(kept) == 1
	})
	if fs, _ := filepath.Glob(filepath.Join(newDir, "*")); len(fs) != 1 {
		t.Fatalf("%d files in the mailbox, want 1", len(fs))
	}
	if b, err := os.ReadFile(filepath.Join(newDir, mailbox.Name("MDB01", org, "bob@example.test"))); err != nil || strings.Contains(string(b), "X-Umbra-Repeat") {
		t.Fatalf("the mailbox file: %v\n%s", err, b)
	}
}

// TD-1, SR-7: the give-back variant. hub-a delivers into a Maildir store
// for MDB01 and copies on receipt to hub-b (another site, no store); its
// write lands and it is killed -9 before its commit (made by hand as
// above), then comes back on an empty data directory: a new transport
// database, the original gone. hub-b took the copy over and its route
// (the site of the send connector's source servers: hub-a, hub-c, the
// latter down) hands it back to hub-a, which finds its own lost write in
// the store. The copy came marked, so hub-a keeps the dumpster copy; it
// kept none, and the message was in no dumpster.
func TestTakenOverCopyHandedBackToPrimaryWithNewDatabaseKeepsDumpsterCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ip = "127.0.0.213"
	a, b, c, sink := freeAddr(t, ip), freeAddr(t, ip), reserveAddr(t, ip), reserveAddr(t, ip) // nothing listens at c and sink
	topo := fmt.Sprintf(`sites: [{name: s1}, {name: s2}]
site_links: [{name: s1-s2, sites: [s1, s2], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: s1, address: %q, source_addresses: [%s]}
  - {name: hub-c, role: hub, site: s1, address: %q, source_addresses: [%s]}
  - {name: hub-b, role: hub, site: s2, address: %q, source_addresses: [%s]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-c], smart_hosts: [%q]}
`, a, ip, c, ip, b, ip, sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	store, broken := filepath.Join(dir, "shared-maildir"), filepath.Join(dir, "broken-maildir")
	os.MkdirAll(broken, 0o700)
	os.WriteFile(filepath.Join(broken, "example.test"), nil, 0o600) // no folder can be made under it: hub-a's write fails
	stored := "accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\nmailbox: {maildir: %q, database: MDB01}\n"
	cfgA, dataA := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), fmt.Sprintf(stored, broken))
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	for _, cfg := range []string{cfgA, cfgB} {
		editConfig(t, cfg, `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip+`}`)
	}
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	msg := "Message-ID: <given-back@example.org>\r\nSubject: taken over, handed back\r\n\r\nkept once\r\n"
	if r := rawSend(t, a, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") || !strings.Contains(r, "shadow copy on hub-b") {
		t.Fatalf("send: %q, want a 250 naming the copy on hub-b", r)
	}
	var org string
	waitCond(t, "hub-a's attempt deferred", 30*time.Second, func() bool {
		out, _ := cli(t, cfgA, "message", "list", "--json", "--state", "retry")
		var ms []admin.MessageView
		if json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 {
			return false
		}
		org = ms[0].OrgID
		return org != ""
	})
	ha.kill()
	newDir := filepath.Join(store, "example.test", "bob", "new")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(store, "example.test", "bob", sub), 0o700)
	}
	if err := os.WriteFile(filepath.Join(newDir, mailbox.Name("MDB01", org, "bob@example.test")), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, cfgB, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	// Back on an empty data directory, its store the shared one.
	os.RemoveAll(dataA)
	editConfig(t, cfgA, fmt.Sprintf("maildir: %q", broken), fmt.Sprintf("maildir: %q", store))
	ha = startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	waitCond(t, "hub-a found its own lost write", 90*time.Second, func() bool {
		out, _ := cli(t, cfgA, "track", "--event", "duplicate-suppressed", "--json")
		return strings.Contains(out, "given-back@example.org")
	})
	var kept []dumpster.Entry
	waitCond(t, "hub-a's dumpster copy of the message it found", 30*time.Second, func() bool {
		out, code := cli(t, cfgA, "dumpster", "list", "--database", "MDB01", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &kept) == nil && len(kept) == 1
	})
	if fs, _ := filepath.Glob(filepath.Join(newDir, "*")); len(fs) != 1 {
		t.Fatalf("%d files in the mailbox, want 1", len(fs))
	}
}
