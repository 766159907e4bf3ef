package main

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// OPS-1 (rr27 F3): SIGHUP reloads the receive connectors. The console
// (on, no console.credentials_file) falls back to the receive
// connector's AUTH file. The operator revokes alice's SMTP account (her
// password leaked), leaving the transport server account hub2 — a file
// the connector accepts. The SIGHUP that applies it was refused as a
// whole because the console would have nobody to log in (a check of the
// start run by every reload, for a console the reload does not touch):
// alice kept relaying. The reload applies it; the console's part is a
// warning.
func TestReloadRevokingLastAuthUserIsApplied(t *testing.T) {
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	hub2, _ := bcrypt.GenerateFromPassword([]byte("hub2-pw"), bcrypt.MinCost)
	d, listen, creds, _ := consoleAuthHub(t, "127.0.0.150", "alice:"+string(alice)+"\nhub2:"+string(hub2)+":server\n")
	os.WriteFile(creds, []byte("hub2:"+string(hub2)+":server\n"), 0o600) // alice revoked
	d.hup()
	waitReloadOutcome(t, d)
	if r := authPlain(t, listen, "alice", "alice-pw"); strings.HasPrefix(r, "235") {
		lines := logLinesWith(d, "reload")
		t.Errorf("alice, removed from the AUTH file and reloaded, still authenticates: %q\n%s", r, strings.Join(lines, "\n"))
	}
}
