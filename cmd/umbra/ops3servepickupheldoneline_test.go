package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/pickup"
)

// OPS-3: serve's refusal of a pickup directory another server holds
// names the directory: a newline in the configured pickup.directory
// (which the loader accepts: a directory it can make) must not forge a
// line of serve's standard error (the journal).
func TestOPS3ServeRefusesAHeldPickupDirectoryOnOneLine(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "p\nFAKE: umbra started")
	if err := os.MkdirAll(pdir, 0o750); err != nil {
		t.Fatal(err)
	}
	release, err := pickup.Lock(pdir) // another server's
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server:
  name: hub.escfix.test
  data_dir: "`+dir+`/data"
  admin_socket: "`+dir+`/admin.sock"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.123:12123"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: "`+dir+`/mail"}
pickup: {directory: "`+strings.ReplaceAll(pdir, "\n", `\n`)+`"}
`), 0o600)
	out, _, code := runBounded(t, "serve", "-c", cfg)
	if !strings.Contains(out, "another running server uses this pickup directory") {
		t.Fatalf("serve did not refuse the held pickup directory (exit %d):\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE") {
			t.Errorf("serve: the pickup directory's newline forged the line %q:\n%s", l, out)
		}
	}
}
