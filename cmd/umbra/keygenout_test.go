package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3, rt27c: dkim keygen --out DIR with a missing DIR said "open
// DIR/DOMAIN.SEL.key: no such file or directory"; --out names a
// directory, and the error names it as given and says that it does not
// exist (or is not a directory), exit 1 as for any key not written.
func TestDKIMKeygenOutDirectoryNamed(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	os.WriteFile(file, nil, 0o600)
	for out, want := range map[string]string{
		filepath.Join(dir, "missing"): "dkim keygen --out " + filepath.Join(dir, "missing") + ": the directory does not exist",
		file:                          "dkim keygen --out " + file + ": not a directory",
	} {
		cmd := exec.Command(umbraBin, "dkim", "keygen", "--out", out, "example.com", "sel")
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailure || !strings.Contains(string(b), want) {
			t.Errorf("keygen --out %s: %v %s\nwant exit %d with %q", out, err, b, exitFailure, want)
		}
	}
}
