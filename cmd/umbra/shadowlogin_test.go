package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// rdmine45: a send_xshadow connector that logs in as an account other
// than server.name — the shipped configs did, edge1 for
// edge1.corp.example.com — has every shadow session refused by a next
// hop where the account is a server account (its name is its server
// id). config check warns at the username's line; not when the account
// is the server's name (in any letter case).
func TestConfigCheckWarnsOfShadowLoginThatIsNotTheServerID(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	p := filepath.Join(dir, "edge.yaml")
	text := "server:\n  name: edge1.corp.test\n  role: edge\n  data_dir: data\n" +
		"accepted_domains:\n  - domain: corp.test\n    type: internal_relay\n    recipient_validation: off\n" +
		"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.196:18533\"]\n" +
		"send_connectors:\n  - name: to-hubs\n    address_spaces: [{domain: corp.test, cost: 1}]\n    smart_hosts: [\"127.0.0.196:18534\"]\n" +
		"    tls: required\n    send_xshadow: true\n    auth:\n      username: edge1\n      password_file: " + pw + "\n"
	warns := func(text string) string {
		t.Helper()
		os.WriteFile(p, []byte(text), 0o600)
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(configWarnings(context.Background(), cfg, nil, nil, noDNS{}), "\n")
	}
	want := p + `:19: warning: send connector "to-hubs" has send_xshadow and logs in as "edge1", while its shadow sessions name this server edge1.corp.test`
	if ws := warns(text); !strings.Contains(ws, want) {
		t.Errorf("warnings:\n%s\nwant %s", ws, want)
	}
	if ws := warns(strings.Replace(text, "username: edge1\n", "username: Edge1.Corp.Test\n", 1)); strings.Contains(ws, "logs in as") {
		t.Errorf("the server's own name warned of:\n%s", ws)
	}
}
