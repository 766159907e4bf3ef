package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// SMTP-6, EDGE-1: a directory that takes the connection and never says
// a word defers the recipient with 451 4.4.3 — never accept-all, never
// a session held for good. One ldap.timeout bounds the whole lookup;
// the bound here only catches a lookup that does not end.
func TestLDAPHungDirectoryDefers(t *testing.T) {
	dir := t.TempDir()
	ln := testsupport.Silent(t, "127.0.0.27:0") // taken, never answered
	listen := freeAddr(t, "127.0.0.27")
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: edge.example.test, role: edge, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: directory}]
%ssend_connectors:
  - {name: to-hub, address_spaces: [{domain: example.test, cost: 1}], smart_hosts: ["127.0.0.27:1"], tls: none}
ldap: {url: "ldap://%s", base_dn: "dc=example,dc=test", timeout: 1s}
`, filepath.Join(dir, "data"), submitConnector("internet", listen, "max_acknowledgement_delay: 0s"), ln.Addr())), 0o600)
	edge := startUmbra(t, cfg, listen)
	edge.dumpLogIfFailed()
	start := time.Now()
	wantReplies(t, "hung directory", rcptReplies(t, listen, "bob@example.test"),
		map[string]string{"bob@example.test": "451 4.4.3"})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("RCPT against a hung directory took %v (ldap.timeout 1s)", d)
	}
}
