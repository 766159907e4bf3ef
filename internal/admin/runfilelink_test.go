package admin

import (
	"os"
	"path/filepath"
	"testing"
)

// OPS- (opsfix26 F2, the run file): a serve run as root writes its run
// file as a new file, never through a link the data dir's owner left at
// its temporary name.
func TestWriteRunFileDoesNotFollowALink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, RunFile+".tmp")); err != nil {
		t.Fatal(err)
	}
	if err := WriteRunFile(dir, "/run/umbra/admin.sock"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("the run file was written through the link: %q", b)
	}
	if pid, sock := readRunFile(dir); pid != os.Getpid() || sock != "/run/umbra/admin.sock" {
		t.Fatalf("run file reads pid %d socket %q", pid, sock)
	}
	if fi, err := os.Lstat(filepath.Join(dir, RunFile)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("run file: %v %v", fi, err)
	}
}
