package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: doc.go says a path an operator sees, the admin socket
// among them, is on one line. The admin client's refusals (no daemon on
// the socket: the net.OpError of the dial inside a url.Error, and
// internal/admin's own texts naming c.path and c.database) are neither
// in the text form nor fs.PathErrors, so textOf writes them by
// plainText, which keeps a newline: the socket's newline (configured
// admin_socket, or --socket) forges a line of standard error, and the
// --json error holds a raw newline where the rule says \x0a.
func TestOPS3AdminSocketNamedOnOneLine(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s\nFAKE: queue ok.sock")
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server:
  name: hub.escfix.test
  data_dir: "`+dir+`/data"
  admin_socket: "`+strings.ReplaceAll(sock, "\n", `\n`)+`"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.124:12124"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: {maildir: "`+dir+`/mail"}
`), 0o600)
	for _, args := range [][]string{
		{"queue", "list", "--socket", sock},
		{"queue", "list", "-c", cfg},
	} {
		out, _, code := runBounded(t, args...)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "FAKE") {
				t.Errorf("%v (exit %d): the socket's newline forged the line %q:\n%s", args[:2], code, l, out)
			}
		}
		_, js, _ := runBounded(t, append(args, "--json")...)
		var res struct{ Error string }
		json.Unmarshal([]byte(js), &res)
		if strings.Contains(res.Error, "\n") || !strings.Contains(res.Error, `s\x0aFAKE`) {
			t.Errorf("%v --json: error %q, want the socket named s\\x0aFAKE on one line", args[:2], res.Error)
		}
	}
}
