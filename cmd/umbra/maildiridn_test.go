package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Upgrade from a release that wrote an internationalised domain's
// Maildir under its U-label: the start moves that mail into the A-label
// mailbox new mail goes to, and says so; the mailbox is one directory
// again (README, upgrade notes).
func TestStartMergesLegacyIDNMaildir(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	data := filepath.Join(dir, "data")
	cfg := fmt.Sprintf(`server:
  name: hub.e2e.test
  data_dir: %s
  metrics_listen: ""
accepted_domains:
  - domain: xn--bcher-kva.example
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: loopback
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit]
    max_acknowledgement_delay: 0s
mailbox:
  maildir: maildir
`, data, listen)
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(data, "maildir", "bücher.example", "anna")
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(old, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(old, "cur", "Oold:2,S"), []byte("Subject: before the upgrade\r\n\r\nold\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, p, listen)
	d.dumpLogIfFailed()
	sendTo(t, listen, "anna@xn--bcher-kva.example", "after the upgrade")
	box := filepath.Join(data, "maildir", "xn--bcher-kva.example", "anna")
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := os.ReadDir(filepath.Join(box, "new"))
		if len(n) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new mail not delivered into %s", box)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(filepath.Join(box, "cur", "Oold:2,S")); err != nil || !strings.Contains(string(b), "before the upgrade") {
		t.Fatalf("the old message is not in the A-label mailbox with its flags: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "maildir", "bücher.example")); !os.IsNotExist(err) {
		t.Fatalf("the U-label directory stays: %v", err)
	}
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "moved from its U-label directory") {
		t.Fatal("the start did not say what it moved")
	}
}
