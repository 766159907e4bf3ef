package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// OPS-3 (rt31c F3): in a directory its user may write but not list (mode
// 0311), a killed db backup's partial copy was neither removed by the next
// backup to the same FILE nor mentioned: the cleanup lists the directory
// to find it, and a listing refused was taken for "none there". The
// backup says that it could not look, naming the directory and the
// copies' names, and what to do.
func TestOPS3BackupSaysItCannotSearchAnUnlistableDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("runs the command as another user (root needed to switch)")
	}
	base, err := os.MkdirTemp("", "partialunl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(umbraBin), 0o755)
	const nobody = 65534
	bk := filepath.Join(base, "bk")
	if err := os.Mkdir(bk, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(bk, ".b.db.partial-L999999-0123456789")
	if err := os.WriteFile(stale, make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(stale, nobody, nobody)
	os.Chown(bk, nobody, nobody)
	os.Chmod(bk, 0o311)
	cmd := exec.Command(umbraBin, "db", "backup", filepath.Join(bk, "b.db"), "--socket", filepath.Join(base, "none.sock"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil && !(strings.Contains(string(out), bk) && strings.Contains(string(out), "may not be listed")) {
		t.Errorf("a backup into a directory it may not list left the partial copy of a killed backup and said nothing of it:\n%s", out)
	}
}
