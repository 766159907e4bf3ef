package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A hub whose mailbox databases come from a directory that takes the
// connection and never answers (a hung slapd): planning the delivery
// waits on the directory, which is the peer's time, not the message's.
// Two kill -9s while it waits count no crash against the message, and
// it does not end in the poison queue (poison_threshold 2).
func TestKill9WhileDirectoryLookupHangs(t *testing.T) {
	dir := t.TempDir()
	listen, mbx, ldapAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	peer := startSilentPeer(t, ldapAddr)
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(fmt.Sprintf(`sites: [{name: s1}]
servers:
  - {name: hub1.example.test, role: hub, site: s1, address: %q}
  - {name: mbx1.example.test, role: mailbox, site: s1, address: %q}
mailbox_databases:
  - {name: DB-A, server: mbx1.example.test}
recipients:
  - {match: example.test, database: DB-A}
`, listen, mbx)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1h], poison_threshold: 2}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: off}]
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: 0s
ldap:
  url: ldap://%s
  base_dn: dc=example,dc=test
  recipient_filter: "(mail=%%s)"
  database_attribute: umbraMailboxDatabase
  timeout: 10m
`, filepath.Join(dir, "data"), topo, listen, ldapAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, cfg, "config", "check", cfg); code != 0 {
		t.Fatalf("config check (exit %d): %s", code, out)
	}
	kill9ThriceWaitingTo(t, cfg, listen, filepath.Join(dir, "data"), "x@example.test", func(d *daemon) { peer.waitConns(t, 1, d) })
}
