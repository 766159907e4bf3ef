package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// SMTP-5 (opsfix29 F3): a receive connector with a credentials file
// and no auth.mechanisms (left out, ~ or []) offers no AUTH, so its
// accounts and its authenticated rights are dead: config check and
// serve refuse it at the line of each such setting instead of starting
// with SMTP AUTH off.
func TestCredentialsFileWithoutMechanismsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:$2a$04$4ZdY0p1mY0p1mY0p1mY0puQ3tW2oQv2qJzqvZ0eN7r0m9q0s1G2nO\n"), 0o600)
	for _, mech := range []string{"", "mechanisms: ~, ", "mechanisms: [], "} {
		cfg := filepath.Join(dir, "hub.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.creds.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), submitConnector("in", "127.0.0.160:42025",
			`auth: {`+mech+`credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
		checkFails(t, "mechanisms "+mech, cfg, lineOf(t, cfg, "credentials_file: "+creds)+
			"receive_connectors[0].auth.credentials_file is set but auth.mechanisms is empty")
	}
}

// OPS config (opsfix29 F2): a send connector's max_connections: 0 was
// taken as max_connections_per_destination (queue destinations showed
// 6/10); config check and serve refuse it at its line.
func TestSendConnectorMaxConnectionsZeroRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.zero.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: ["127.0.0.161:42026"]
    max_connections: 0
%s`, filepath.Join(dir, "data"), submitConnector("in", "127.0.0.160:42025"))), 0o600)
	checkFails(t, "max_connections: 0", cfg, lineOf(t, cfg, "max_connections: 0")+"send_connectors[0].max_connections: 0 is refused")
}
