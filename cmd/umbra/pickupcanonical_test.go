package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A pickup recipient whose domain ends in a dot is the recipient without
// it (SR-12, rt16d F1): validated against the recipients file (an unknown
// one fails 550 5.1.1), delivered into the Maildir the user reads
// (example.test/u), never into a directory "example.test." of its own.
func TestPickupRecipientWithFinalDot(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	editConfig(t, cfg, "    recipient_validation: off     # these tests are about durability, not recipients\n", "")
	if err := os.WriteFile(filepath.Join(dir, "rcpts"), []byte("u@example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("recipients: {file: "+filepath.Join(dir, "rcpts")+"}\npickup: {directory: pickup, interval: 100ms}\n")...), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	pick := filepath.Join(dir, "data", "pickup")
	os.WriteFile(filepath.Join(pick, ".a.tmp"), []byte("X-Sender: app@example.org\nX-Receiver: U@Example.Test.\nX-Receiver: nosuch@example.test.\nSubject: dotted\n\nhi\n"), 0o600)
	os.Rename(filepath.Join(pick, ".a.tmp"), filepath.Join(pick, "a.eml"))
	md := filepath.Join(dir, "data", "maildir")
	waitCond(t, "the message in example.test/u", 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(md, "example.test", "u", "new", "*"))
		return len(m) == 1
	})
	waitCond(t, "nosuch refused", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "550 5.1.1 <nosuch@example.test>")
	})
	if ents, _ := os.ReadDir(md); len(ents) != 1 || ents[0].Name() != "example.test" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("maildir holds %q, want example.test only", names)
	}
}
