package smtp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// A shadow session's server id is a server name, compared without
// ASCII case (as the topology and client certificates compare it), while
// accounts log in by exact name: two server accounts whose names differ
// only in case would be two logins for one server id (rt44 note: Hubx2
// could open XSHADOW hubx2). A credentials file with such a pair is
// refused at load, naming both lines; a user account beside a server
// account of the same folded name is no server id and is kept.
func TestServerAccountsDifferingInCaseRefused(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	p := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(p, []byte("hubx:"+string(h)+":server\nalice:"+string(h)+"\nHubX:"+string(h)+":server\n"), 0o600)
	_, err := LoadCredentials(p)
	if err == nil || !strings.Contains(err.Error(), p+":3:") || !strings.Contains(err.Error(), `"HubX"`) || !strings.Contains(err.Error(), `"hubx"`) {
		t.Fatalf("load: %v", err)
	}
	os.WriteFile(p, []byte("hubx:"+string(h)+":server\nHUBX:"+string(h)+"\n"), 0o600)
	if _, err := LoadCredentials(p); err != nil {
		t.Fatalf("a user account beside a server account: %v", err)
	}
}
