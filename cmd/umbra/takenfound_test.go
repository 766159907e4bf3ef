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

// TD-1, SR-6 (rt36 F1): two hubs deliver into one Maildir store for
// MDB01; hub-a's connector copies on receipt to hub-b (remote-only).
// hub-a is killed -9 after its Maildir write and before the commit that
// carried its duplicate record and dumpster copy: the test makes that
// moment by hand — hub-a's own store refuses the write (its attempt is
// deferred, nothing committed of a delivery), hub-a is killed, and the
// file it would have written is put into the shared store under the
// name umbra gives it. hub-b takes the copy over once hub-a's heartbeats
// fail and finds the file: its delivery repeats hub-a's lost one, so it
// keeps the dumpster copy (hub-a, back, drops its original as delivered
// by hub-b and keeps none). It kept none, and a mailbox failover could
// get the message back from nowhere.
func TestTakenOverCopyFoundInSharedMaildirKeepsDumpsterCopy(t *testing.T) {
	dir := t.TempDir()
	a, b, sink := "127.0.0.175:9531", "127.0.0.175:9532", "127.0.0.175:9533" // nothing listens at sink
	store, broken := filepath.Join(dir, "shared-maildir"), filepath.Join(dir, "broken-maildir")
	os.MkdirAll(broken, 0o700)
	os.WriteFile(filepath.Join(broken, "example.test"), nil, 0o600) // no folder can be made under it: hub-a's write fails
	topo := twoSiteTopology(t, dir, a, b, sink, "hub-a", "hub-b")
	extra := "accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\nmailbox: {maildir: %q, database: MDB01}\n"
	cfgA, _ := orgHub(t, dir, "hub-a", a, topo, shadowOnReceipt("remote-only", false), fmt.Sprintf(extra, broken))
	cfgB, _ := orgHub(t, dir, "hub-b", b, topo, "0s", fmt.Sprintf(extra, store))
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	msg := "Message-ID: <taken-found@example.org>\r\nSubject: taken over\r\n\r\nkept once\r\n"
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

	waitCond(t, "hub-b's takeover found the file", 60*time.Second, func() bool {
		out, _ := cli(t, cfgB, "track", "--event", "duplicate-suppressed", "--json")
		return strings.Contains(out, "taken-found@example.org")
	})
	waitCond(t, "hub-b's dumpster copy of the message it found", 30*time.Second, func() bool {
		out, code := cli(t, cfgB, "dumpster", "list", "--database", "MDB01", "--json")
		var es []dumpster.Entry
		return code == 0 && json.Unmarshal([]byte(out), &es) == nil && len(es) == 1
	})
	if fs, _ := filepath.Glob(filepath.Join(newDir, "*")); len(fs) != 1 {
		t.Fatalf("%d files in the mailbox, want 1", len(fs))
	}
}
