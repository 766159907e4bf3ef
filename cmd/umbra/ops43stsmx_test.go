package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"umbra/internal/config"
)

// OPS-43 item 3: an MTA-STS policy published with an mx list that names
// none of this server's names (server.name) tells every sender that this
// server is no MX of its domains: under enforce they send it no mail,
// under testing they report every delivery as failing. config check and
// the start (configWarnings) warn of it at the mx line; a list naming
// server.name, exactly or by a *. pattern, in any letter case or with a
// final dot, is not warned of, nor is mode none.
func TestOPS43PublishedMXNamingNoneOfThisServerWarned(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "umbra.yaml")
	for _, tc := range []struct {
		mx, mode string
		warn     bool
	}{
		{"[mx.example.test]", "enforce", true},
		{"[mx.example.test, backup.example.test]", "testing", true},
		{"['*.other.test']", "enforce", true},
		{"[mx.example.test]", "none", false},
		{"[mx.example.test, hub.e2e.test]", "enforce", false},
		{"['*.e2e.test']", "enforce", false},
		{"[HUB.E2E.TEST.]", "testing", false},
	} {
		text := "server:\n  name: hub.e2e.test\n  data_dir: data\naccepted_domains:\n  - domain: example.test\n    type: internal_relay\n    recipient_validation: off\n" +
			"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.154:8425\"]\n" +
			"outbound_tls:\n  mta_sts_publish:\n    listen: 127.0.0.154:8426\n    cert_file: c.pem\n    key_file: k.pem\n    mode: " + tc.mode +
			"\n    mx: " + tc.mx + "\n"
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.mx, err)
		}
		want := regexp.MustCompile(regexp.QuoteMeta(p) + `:17: warning: outbound_tls\.mta_sts_publish\.mx names none of this server's names \(server\.name hub\.e2e\.test\)`)
		ws := strings.Join(publishWarnings(cfg), "\n")
		if got := want.MatchString(ws); got != tc.warn {
			t.Errorf("mx %s, mode %s: warned %v, want %v:\n%s", tc.mx, tc.mode, got, tc.warn, ws)
		}
	}
}
