package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3: a second serve on a data_dir another serve holds is refused
// naming the transport database (heldwait.go): a newline of data_dir
// (which the loader accepts) must not forge a line of stderr.
func TestOPS3ServeRefusesAHeldDatabaseOnOneLine(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d\nFAKE: umbra ready")
	write := func(name, sock, port string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`server:
  name: hub.escfix.test
  data_dir: "`+strings.ReplaceAll(data, "\n", `\n`)+`"
  admin_socket: "`+dir+`/`+sock+`"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.121:`+port+`"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: "`+dir+`/mail"}
`), 0o600)
		return p
	}
	first := exec.Command(umbraBin, "serve", "-c", write("a.yaml", "a.sock", "42121"))
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { first.Process.Signal(os.Interrupt); first.Wait() }()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(dir, "a.sock")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _, code := runBounded(t, "serve", "-c", write("b.yaml", "b.sock", "42122"))
	if !strings.Contains(out, "is held by another umbra serve") {
		t.Fatalf("the second serve was not refused for the held database (exit %d):\n%s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE") {
			t.Errorf("serve: data_dir's newline forged the line %q:\n%s", l, out)
		}
	}
}
