package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// rdmine45: a hub holding its organisation's mailboxes (an
// authoritative domain) whose internal_relay domain goes to a
// partner's gateway through a smart host — configs/hub.yaml's
// partner.example.net, "accepted, then sent on by a send connector",
// reached by a smart host in place of its MX — hands that mail out of
// the organisation: it rightly carries no organisation id (SR-14), and
// send_xshadow there, which the warning advised, would give the
// partner the id. Not warned of; an edge's connector to its hubs still
// is (TestConfigCheckWarnsOfEdgeConnectorToOwnServers).
func TestConfigCheckNoOrgIDWarningForHubsPartnerSmartHost(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hub.yaml")
	text := "server:\n  name: hub.corp.test\n  role: hub\n  data_dir: data\n" +
		"accepted_domains:\n  - domain: corp.test\n    type: authoritative\n    recipient_validation: off\n" +
		"  - domain: partner.test\n    type: internal_relay\n    recipient_validation: off\n" +
		"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.196:18531\"]\n" +
		"send_connectors:\n  - name: partner\n    address_spaces: [{domain: partner.test, cost: 1}]\n    smart_hosts: [\"127.0.0.196:18532\"]\n" +
		"mailbox:\n  maildir: maildir\n"
	load := func(text string) []string {
		t.Helper()
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return append(orgIDNotCarried(cfg, nil), signingToOwnServers(cfg, nil)...)
	}
	// DKIM signing on: the mail to the partner is rightly signed as
	// leaving, not warned of either (the sibling warning,
	// signingToOwnServers).
	key, _ := keygen(t, dir, "corp.test", "s1")
	text += "dkim:\n  keys:\n    - {domain: corp.test, selector: s1, key_file: " + key + "}\n"
	if ws := load(text); len(ws) != 0 {
		t.Errorf("a hub's partner smart host warned of:\n%s", strings.Join(ws, "\n"))
	}
	// The same connector on an edge (no mailbox here: its
	// internal_relay domains are the organisation's, behind its hubs).
	edge := strings.Replace(text, "  role: hub\n", "  role: edge\n", 1)
	edge = strings.Replace(edge, "    type: authoritative\n", "    type: internal_relay\n", 1)
	edge = strings.Replace(edge, "mailbox:\n  maildir: maildir\n", "", 1)
	edge = strings.Replace(edge, "address_spaces: [{domain: partner.test, cost: 1}]", "address_spaces: [{domain: partner.test, cost: 1}, {domain: corp.test, cost: 1}]", 1)
	if ws := load(edge); len(ws) != 2 || !strings.Contains(ws[0], `send connector "partner" carries the organisation's own domain`) ||
		!strings.Contains(ws[1], "DKIM-signed") {
		t.Errorf("an edge's connector to its hubs: %q", ws)
	}
}
