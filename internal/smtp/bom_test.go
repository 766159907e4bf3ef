package smtp

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// SPEC OPS-3: a credentials file saved with a UTF-8 byte-order mark
// (console.credentials_file, a receive connector's auth.credentials_file)
// has its first account usable; an invisible character before a name is
// refused at its line instead of an account nobody can name.
func TestCredentialsBOM(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCredentials(strings.NewReader("\ufeffops:"+string(h)+"\nbob:"+string(h)+"\n"), "creds")
	if err != nil {
		t.Fatalf("a file with a byte-order mark: %v", err)
	}
	if _, err := c.Check("ops", "pw"); err != nil {
		t.Fatalf("the first account of a file with a byte-order mark: %v", err)
	}
	// A no-break space is white space the line's trim takes away: the
	// name matches as typed.
	if c, err := parseCredentials(strings.NewReader("\u00a0ops:"+string(h)+"\n"), "creds"); err != nil {
		t.Errorf("no-break space before a name: %v", err)
	} else if _, err := c.Check("ops", "pw"); err != nil {
		t.Errorf("no-break space before a name: %v", err)
	}
	for _, lead := range []string{"\u200b", "\u2060", "\ufeff"} {
		_, err := parseCredentials(strings.NewReader("bob:"+string(h)+"\n"+lead+"ops:"+string(h)+"\n"), "creds")
		if err == nil || !strings.Contains(err.Error(), "creds:2:") {
			t.Errorf("name starting with %U: err %v, want refused at creds:2", []rune(lead)[0], err)
		}
	}
}
