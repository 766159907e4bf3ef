package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: serve's refusal of its transport database that
// queue.Open makes (a damaged file, named by its path) names data_dir,
// which the loader accepts with a newline: the newline must not forge a
// line of stderr, as the held database's refusal does not
// (TestOPS3ServeRefusesAHeldDatabaseOnOneLine).
func TestOPS3ServeRefusesADamagedDatabaseOnOneLine(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d\nFAKE: umbra ready")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	// Not a bbolt file: refused as damaged.
	os.WriteFile(filepath.Join(data, "queue.db"), []byte(strings.Repeat("not a database ", 2000)), 0o600)
	p := filepath.Join(dir, "a.yaml")
	os.WriteFile(p, []byte(`server:
  name: hub.escfix.test
  data_dir: "`+strings.ReplaceAll(data, "\n", `\n`)+`"
  admin_socket: "`+dir+`/a.sock"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.213:15213"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: "`+dir+`/mail"}
`), 0o600)
	out, _, code := runBounded(t, "serve", "-c", p)
	if code == 0 {
		t.Fatalf("serve started on a damaged database:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE") {
			t.Errorf("serve: data_dir's newline forged the line %q (exit %d):\n%s", l, code, out)
		}
	}
}
