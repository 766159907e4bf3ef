package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/delivery"
)

// SMTP-4: the password is now the file's first line only.
// An LDAP password file whose password sits below a blank first line
// (an editor's leading newline; before ops28 the password was the whole
// file without its trailing line ends) is refused at the upgrade as
// "... is empty" — untrue of a file that holds a password: the refusal
// must say that its first line is empty, which is what the rule reads.
func TestSMTP4PasswordFileBlankFirstLineNotCalledEmpty(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("\ns3cret\n"), 0o600)
	_, lerr := ldapPassword(f)
	_, derr := delivery.Password(0, config.SendConnector{Name: "out", Auth: config.SendAuth{Username: "u", PasswordFile: f}})
	for name, err := range map[string]error{"ldap.bind_password_file": lerr, "auth.password_file": derr} {
		if err == nil {
			t.Errorf("%s with a blank first line: accepted", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if strings.Contains(err.Error(), "is empty") && !strings.Contains(err.Error(), "first line") {
			t.Errorf("%s holding a password below a blank first line is refused as %q: the file is not empty; say its first line is", name, err)
		}
	}
}
