package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt5 F2: with a topology, an authoritative domain the topology maps to
// no mailbox database is delivered into this server's own mailbox store.
// config check says so (a warning with file:line), requires the store
// only then (a domain the topology maps needs none), and refuses a store
// that is in truth a mailbox server or database of the topology: the
// hub would deliver to it directly, ignoring that a mailbox server of
// another site is reached through a hub of its own site (RT-8). serve
// refuses the same at start.
func TestConfigCheckAuthoritativeDomainWithoutDatabase(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: sa, subnets: ["127.0.71.0/24"]}
  - {name: sb, subnets: ["127.0.72.0/24"]}
site_links:
  - {name: a-b, sites: [sa, sb], cost: 10}
servers:
  - {name: hub1.sa.test, role: hub, address: "127.0.71.10:2525"}
  - {name: hub1.sb.test, role: hub, address: "127.0.72.10:2525"}
  - {name: mbx.sb.test, role: mailbox, address: "127.0.72.20:2424"}
mailbox_databases:
  - {name: DB1, server: mbx.sb.test}
recipients:
  - {match: corp.test, database: DB1}
  - {match: "*.corp.test", database: DB1}
send_connectors:
  - {name: internet, address_spaces: [{domain: "*", cost: 10}], source_servers: [hub1.sb.test], smart_hosts: ["127.0.9.9:2526"]}
`), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	check := func(domains, mailbox string) (string, int) {
		t.Helper()
		body := fmt.Sprintf(`server: {name: hub1.sa.test, data_dir: %s, metrics_listen: "", source_address: 127.0.71.10}
topology: %s
receive_connectors:
  - {name: in, bindings: ["127.0.71.10:2525"], remote_ranges: ["127.0.0.0/8"], externally_secured: true, permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}}
accepted_domains:
%s%s`, filepath.Join(dir, "data"), topo, domains, mailbox)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	const mapped = "  - {domain: corp.test, type: authoritative, recipient_validation: \"off\"}\n  - {domain: \"*.corp.test\", type: authoritative}\n"
	const other = "  - {domain: other.test, type: authoritative, recipient_validation: off}\n"

	// Every authoritative domain mapped by the topology: no store needed,
	// no warning.
	if out, code := check(mapped, ""); code != 0 || strings.Contains(out, "warning") {
		t.Errorf("mapped domains without mailbox: exit %d\n%s", code, out)
	}
	// other.test unmapped, no store: refused, at its line.
	if out, code := check(mapped+other, ""); code != exitConfig ||
		!strings.Contains(out, "umbra.yaml:8: accepted domain \"other.test\" is authoritative, but the topology") {
		t.Errorf("unmapped domain without mailbox: exit %d\n%s", code, out)
	}
	// With a store of its own: accepted, with a warning at its line
	// saying where its mail goes.
	if out, code := check(mapped+other, "mailbox: {maildir: maildir}\n"); code != 0 ||
		!strings.Contains(out, "umbra.yaml:8: warning: accepted domain \"other.test\" is authoritative, but the topology") ||
		!strings.Contains(out, "this server's own mailbox store") {
		t.Errorf("unmapped domain with a store: exit %d\n%s", code, out)
	}
	// A callout for it has no next hop to ask.
	if out, code := check(mapped+strings.Replace(other, "recipient_validation: off", "recipient_validation: callout", 1), "mailbox: {maildir: maildir}\n"); code != exitConfig ||
		!strings.Contains(out, "umbra.yaml:8: accepted domain \"other.test\" is delivered into this server's own mailbox store") {
		t.Errorf("callout for the own store: exit %d\n%s", code, out)
	}
	// The rt5 setup: the "own store" is the topology's mailbox server in
	// another site, by address and by database name: refused.
	out, code := check(mapped+other, "mailbox: {lmtp: \"127.0.72.20:2424\", database: DB1}\n")
	if code != exitConfig || !strings.Contains(out, "umbra.yaml:9: mailbox.lmtp 127.0.72.20:2424 is the address of server mbx.sb.test of the topology") ||
		!strings.Contains(out, "umbra.yaml:9: mailbox.database \"DB1\" is a mailbox database of the topology") ||
		!strings.Contains(out, "its mailbox store does not fit the topology") {
		t.Errorf("store that is a topology mailbox server: exit %d\n%s", code, out)
	}
	// The daemon refuses it too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a daemon that starts is killed
	defer cancel()
	if out, err := exec.CommandContext(ctx, umbraBin, "serve", "--config", cfg).CombinedOutput(); err == nil || ctx.Err() != nil ||
		!strings.Contains(string(out), "mailbox.lmtp 127.0.72.20:2424 is the address of server mbx.sb.test") {
		t.Errorf("serve started with a store that is a topology mailbox server: %v\n%s", err, out)
	}
	// Unused (every authoritative domain mapped): a warning, not an error.
	if out, code := check(mapped, "mailbox: {lmtp: \"127.0.72.20:2424\", database: DB1}\n"); code != 0 ||
		!strings.Contains(out, "warning: mailbox.lmtp 127.0.72.20:2424 is the address of server mbx.sb.test") {
		t.Errorf("unused store: exit %d\n%s", code, out)
	}

	// route explain names the route the daemon takes: for a
	// configuration or topology serve and reload refuse, none (exit 2,
	// with the refusal), whether the topology is the configuration's or
	// given with --topology (a planned one, or a copy cut short).
	explain := func(args ...string) (string, int) {
		t.Helper()
		out, err := exec.Command(umbraBin, append([]string{"route", "explain", "--config", cfg}, args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	check(mapped+other, "")
	if out, code := explain("x@other.test"); code != exitConfig || !strings.Contains(out, "umbra.yaml:8: accepted domain \"other.test\" is authoritative") {
		t.Errorf("route explain of a configuration serve refuses: exit %d\n%s", code, out)
	}
	if out, code := check(mapped, ""); code != 0 {
		t.Fatalf("mapped domains: exit %d\n%s", code, out)
	}
	if out, code := explain("alice@corp.test"); code != 0 || !strings.Contains(out, "DB1") {
		t.Errorf("route explain: exit %d\n%s", code, out)
	}
	full, _ := os.ReadFile(topo)
	cut := filepath.Join(dir, "cut.yaml")
	os.WriteFile(cut, full[:strings.Index(string(full), "mailbox_databases:")], 0o600)
	if out, code := explain("--topology", cut, "alice@corp.test"); code != exitConfig || !strings.Contains(out, "accepted domain \"corp.test\" is authoritative") {
		t.Errorf("route explain --topology of a topology serve refuses: exit %d\n%s", code, out)
	}

	// A typo of server.name is this file's mistake, at its line; the
	// topology every server reads is not blamed.
	os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "hub1.sa.test", "hub1.sa.tset", 1)), 0o600)
	raw, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig ||
		!strings.Contains(string(raw), "umbra.yaml:1: server.name \"hub1.sa.tset\" is not a server of the topology") ||
		strings.Contains(string(raw), "is not valid") {
		t.Errorf("config check of a server.name typo: %v\n%s", err, raw)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
