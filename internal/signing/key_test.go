package signing

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadKeyRefusesWhatIsNotOneKeyFile: a FIFO (which once blocked the
// start for ever), a directory, two PEM blocks (which one signs would be
// a guess) and an oversized file are refused with the reason, at once.
func TestLoadKeyRefusesWhatIsNotOneKeyFile(t *testing.T) {
	dir := t.TempDir()
	_, a, err := GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, b, _ := GenerateKey("ed25519", 0)
	one := filepath.Join(dir, "one.key")
	os.WriteFile(one, append(append([]byte{}, a...), "trailing comment\n"...), 0o600)
	if _, err := LoadKey(one); err != nil {
		t.Fatalf("one key with trailing text: %v", err)
	}
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.key")
	os.WriteFile(two, append(append([]byte{}, a...), b...), 0o600)
	big := filepath.Join(dir, "big.key")
	os.WriteFile(big, append(append([]byte{}, a...), make([]byte, maxKeyFile)...), 0o600)
	for path, want := range map[string]string{
		fifo: "not a regular file",
		dir:  "not a regular file",
		two:  "more than one PEM block",
		big:  "not a key file",
	} {
		if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadKey(%s) = %v, want %q", filepath.Base(path), err, want)
		}
	}
}
