package signing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"umbra/internal/config"
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

// TestNewNamesEveryBadKey: New loads every key and names each one that
// does not load, at its setting (a FileError each), not only the first:
// one config check shows every bad key.
func TestNewNamesEveryBadKey(t *testing.T) {
	dir := t.TempDir()
	_, good, err := GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	goodFile := filepath.Join(dir, "good.key")
	os.WriteFile(goodFile, good, 0o600)
	missing := filepath.Join(dir, "missing.key")
	_, err = New(config.DKIM{Keys: []config.DKIMKey{
		{Domain: "a.test", Selector: "s", KeyFile: missing},
		{Domain: "b.test", Selector: "s", KeyFile: goodFile},
		{Domain: "c.test", Selector: "s", KeyFile: dir},
	}, ARC: config.ARC{Domain: "a.test", Selector: "s", KeyFile: goodFile}}, nil) // Ed25519: ARC seals with RSA only
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *config.FileError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a FileError", e)
		}
		got = append(got, fmt.Sprint(fe.Setting...))
	}
	if want := []string{fmt.Sprint("dkim", "keys", 0, "key_file"), fmt.Sprint("dkim", "keys", 2, "key_file"), fmt.Sprint("dkim", "arc", "key_file")}; !slices.Equal(got, want) {
		t.Fatalf("refused settings %q, want %q (%v)", got, want, err)
	}
}

// A key file with several faults is refused for each in one run: a
// mode every user can read and a size over the limit (or content that
// is no key) are two errors, each a FileError at the key's setting.
func TestNewNamesEveryFaultOfAKey(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.key")
	os.WriteFile(big, nil, 0o644)
	os.Truncate(big, maxKeyFile+1)
	os.Chmod(big, 0o644)
	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("garbage\n"), 0o644)
	os.Chmod(garbage, 0o644)
	for file, want := range map[string][]string{
		big:     {"lets every user read the key", "more than 65536 bytes"},
		garbage: {"lets every user read the key", "no PEM block"},
	} {
		_, err := New(config.DKIM{Keys: []config.DKIMKey{{Domain: "a.test", Selector: "s", KeyFile: file}}}, nil)
		j, ok := err.(interface{ Unwrap() []error })
		if !ok || len(j.Unwrap()) != len(want) {
			t.Errorf("%s: %v, want %d errors", file, err, len(want))
			continue
		}
		for i, e := range j.Unwrap() {
			var fe *config.FileError
			if !errors.As(e, &fe) || fmt.Sprint(fe.Setting...) != fmt.Sprint("dkim", "keys", 0, "key_file") ||
				strings.Contains(e.Error(), "\n") || !strings.Contains(e.Error(), want[i]) {
				t.Errorf("%s: error %d %q, want one line at dkim.keys[0].key_file saying %q", file, i, e, want[i])
			}
		}
	}
}
