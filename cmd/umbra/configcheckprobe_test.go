package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/config"
)

// OPS-3: config check meets a missing directory by a probe made and
// removed in its nearest existing parent, and removes only the probe it
// made: a file or directory of the probe's former name (.umbra-config-
// check-PID) that was there before — another's, this pid's from an
// earlier process — is left as it was, and nothing of the check's own
// is left behind.
func TestOPS3ConfigCheckProbeRemovesOnlyItsOwn(t *testing.T) {
	parent := t.TempDir()
	theirs := filepath.Join(parent, fmt.Sprintf(".umbra-config-check-%d", os.Getpid()))
	if err := os.WriteFile(theirs, []byte("not the check's"), 0o600); err != nil {
		t.Fatal(err)
	}
	theirDir := theirs + "-dir"
	if err := os.Mkdir(theirDir, 0o700); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(parent)
	d := writtenDir{setting: "mailbox.maildir", dir: filepath.Join(parent, "missing", "maildir")}
	for range 3 {
		if err := dirCheck(&config.Config{}, d, false); err != nil {
			t.Fatalf("dirCheck: %v", err)
		}
	}
	if b, err := os.ReadFile(theirs); err != nil || string(b) != "not the check's" {
		t.Errorf("the file %s the check did not make: %q, %v", theirs, b, err)
	}
	if _, err := os.Stat(theirDir); err != nil {
		t.Errorf("the directory %s the check did not make: %v", theirDir, err)
	}
	after, _ := os.ReadDir(parent)
	if len(after) != len(before) {
		t.Errorf("%d names in the parent before the check, %d after: %v", len(before), len(after), after)
	}
}
