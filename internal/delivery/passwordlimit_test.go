package delivery

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// A send connector's password file is read up to its limit, not whole:
// a setting pointed at a huge file is refused at the setting, naming the
// limit (rt34 F16). The file is sparse: a size, not disk.
func TestPasswordFileReadUpToItsLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	os.WriteFile(p, nil, 0o600)
	if err := os.Truncate(p, 1<<30); err != nil {
		t.Fatal(err)
	}
	sc := config.SendConnector{Name: "s"}
	sc.Auth.PasswordFile = p
	_, err := Password(0, sc)
	var fe *config.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "send_connectors[0].auth.password_file "+p+": file too large: larger than the 64 KiB limit for a password file") {
		t.Errorf("a 1 GiB password file: %v", err)
	}
}
