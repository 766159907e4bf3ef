package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// legacyTopology is one site with the hub, and a legacy (2003) server
// holding the mailbox database of old.test behind a routing-group
// connector written without a cost (issue 11 defects 5 and 9).
func legacyTopology(hub, legacy, rgcCost string, mailboxes ...string) string {
	return fmt.Sprintf(`sites: [{name: a}]
servers:
  - {name: hub.topo.test, role: hub, site: a, address: %q}
  - {name: ex2003, role: legacy, routing_group: rg1, address: %q}
mailbox_databases: [{name: DB-OLD, server: ex2003}]
recipients:
  - {match: old.test, database: DB-OLD, addresses: [%s]}
routing_group_connectors:
  - name: to-rg1
    groups: [modern, rg1]
    source_servers: [hub.topo.test]%s
`, hub, legacy, strings.Join(mailboxes, ", "), rgcCost)
}

// topoHub writes dir/hub.yaml, the configuration of hub.topo.test of
// the topology file topo: authoritative for old.test (recipients as the
// topology lists them, into the maildir), taking mail from loopback at
// listen and answering at once, retrying on the schedule retry. It
// returns the file's path.
func topoHub(t *testing.T, dir, listen, retry, topo string) string {
	t.Helper()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.topo.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [%s]}
accepted_domains: [{domain: old.test, type: authoritative}]
%smailbox: {maildir: maildir}
topology: %s
`, filepath.Join(dir, "data"), retry, submitConnector("in", listen, "max_acknowledgement_delay: 0s"), topo)), 0o600)
	return cfg
}

// Issue 11 acceptance: "The daemon survives any topology that config
// check accepts; a topology that would make routing fail is refused at
// load with file:line, and SIGHUP keeps the old one." Defects 5 and 9
// through the daemon: a routing-group connector without a cost routes
// (once it sent every matching message to the poison queue), and mail
// for a database on a legacy server goes over it to that server.
func TestDaemonTopologyReloadKeepsTheOldOne(t *testing.T) {
	dir := t.TempDir()
	hubAddr, legacyAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.4")
	rec := startRecorder(t, legacyAddr)
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(legacyTopology(hubAddr, legacyAddr, "", "alice@old.test")), 0o600)
	cfg := topoHub(t, dir, hubAddr, "1s", topo)
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	hub := startUmbra(t, cfg, hubAddr)
	if r := rawSend(t, hubAddr, "s@example.org", []string{"alice@old.test"}, "Subject: to-legacy-1\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	waitArrived(t, rec, []string{"to-legacy-1"}, hub)

	// A good new topology applies on SIGHUP.
	os.WriteFile(topo, []byte(legacyTopology(hubAddr, legacyAddr, "\n    cost: 3", "alice@old.test", "bob@old.test")), 0o600)
	hub.hup()
	waitCond(t, "bob to be known after SIGHUP", 10*time.Second, func() bool {
		return strings.HasPrefix(rcptReplies(t, hubAddr, "bob@old.test")["bob@old.test"], "250")
	})

	// A topology that would make routing fail (a negative cost once
	// hung routing; a connector without bridgehead) is refused with its
	// line, by config check and by the reload, which keeps the old one.
	for i, bad := range []string{
		legacyTopology(hubAddr, legacyAddr, "\n    cost: -1", "alice@old.test"),
		strings.Replace(legacyTopology(hubAddr, legacyAddr, "", "alice@old.test"), "    source_servers: [hub.topo.test]", "    max_message_size: 1MiB", 1),
	} {
		os.WriteFile(topo, []byte(bad), 0o600)
		out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), "topology.yaml:") {
			t.Fatalf("config check of bad topology %d: %v\n%s", i, err, out)
		}
		before, _ := os.ReadFile(hub.log)
		hub.hup()
		waitCond(t, "the failed reload in the log", 10*time.Second, func() bool {
			b, _ := os.ReadFile(hub.log)
			return strings.Count(string(b), "reload failed") > strings.Count(string(before), "reload failed") &&
				strings.Contains(string(b[len(before):]), "topology.yaml:")
		})
		wantReplies(t, "after a refused topology", rcptReplies(t, hubAddr, "alice@old.test", "bob@old.test", "carol@old.test"),
			map[string]string{"alice@old.test": "250", "bob@old.test": "250", "carol@old.test": "550 5.1.1"})
		subj := fmt.Sprintf("to-legacy-after-%d", i)
		if r := rawSend(t, hubAddr, "s@example.org", []string{"bob@old.test"}, "Subject: "+subj+"\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
			t.Fatalf("DATA after a refused reload: %s", r)
		}
		waitArrived(t, rec, []string{subj}, hub)
	}
}

// Issue 11, expansion groups through the daemon: the hub of the group's
// expansion site accepts the group address at RCPT, replaces it by its
// members, and they leave as one copy over the routing-group connector.
func TestDaemonExpandsGroup(t *testing.T) {
	dir := t.TempDir()
	hubAddr, legacyAddr := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.4")
	rec := startRecorder(t, legacyAddr)
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(strings.Replace(legacyTopology(hubAddr, legacyAddr, "", "alice@old.test", "bob@old.test"),
		"routing_group_connectors:", "  - {match: all@old.test, members: [alice@old.test, bob@old.test], expansion_site: a}\nrouting_group_connectors:", 1)), 0o600)
	cfg := topoHub(t, dir, hubAddr, "1h", topo)
	if out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	hub := startUmbra(t, cfg, hubAddr)
	if r := rawSend(t, hubAddr, "s@example.org", []string{"all@old.test"}, "Subject: to-group\r\n\r\nhello all"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	// The members are due at once: with a one-hour retry schedule only
	// an immediate attempt arrives within the wait.
	waitArrived(t, rec, []string{"to-group"}, hub)
	if out, _ := exec.Command(umbraBin, "route", "explain", "--topology", topo, "--server", "hub.topo.test", "all@old.test").Output(); !strings.Contains(string(out), "expanded here into 2 members") {
		t.Errorf("route explain of the group:\n%s", out)
	}
}
