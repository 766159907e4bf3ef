package queue

import (
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/testsupport"
)

// OPS-3: HeldDepth walks up the held directory's parents through a
// parent the user may search but not list (0311): a directory inside the
// Maildir tree is judged inside it, never outside (the judgement must
// not fail open). Run as the user nobody (testsupport.AsNonRoot).
func TestOPS3HeldDepthThroughUnlistableParent(t *testing.T) {
	if !testsupport.AsNonRoot(t) {
		return // run as the user nobody (root reads every directory)
	}
	mail := filepath.Join(t.TempDir(), "mail")
	deep := filepath.Join(mail, "user", "new")
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(deep)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	os.Chmod(filepath.Join(mail, "user"), 0o311)
	defer os.Chmod(filepath.Join(mail, "user"), 0o700)
	if d := HeldDepth(held, mail); d != 2 {
		t.Errorf("a directory two levels inside the Maildir tree, a parent unlistable: depth %d, want 2", d)
	}
}
