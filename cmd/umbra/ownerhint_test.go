package main

import (
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// cliAs is cli run as uid (its group the same number): output and
// standard error together, and the exit code.
func cliAs(t *testing.T, uid int, cfg string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(umbraBin, append([]string{"--config", cfg}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// An offline db command run as a user who may not open the data
// directory's files says to run it as the directory's owner (the user
// umbra runs as) or as root, naming that owner; it never advises giving
// the data directory to the user who ran it, nor "start again" (rt16c
// F3). serve keeps its advice: give the directory back to the user it
// runs as.
func TestDBCommandAsOtherUserNamesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the commands run as other users")
	}
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	os.Chmod(cfg, 0o644)
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	d := startUmbra(t, cfg, listen)
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	os.Chmod(backup, 0o644)
	d.kill()
	data := filepath.Join(dir, "data")
	os.Chmod(data, 0o755) // the file, not the directory, refuses

	// root's data directory, a command run as nobody.
	for _, args := range [][]string{{"db", "compact"}, {"db", "restore", backup}} {
		out, code := cliAs(t, nobody, cfg, args...)
		if code == 0 || !strings.Contains(out, "run it as root") || strings.Contains(out, "chown") || strings.Contains(out, "start again") {
			t.Errorf("%s as nobody on root's data directory: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}

	// The data directory is the daemon's (nobody's); a command run by
	// another user (uid 1) is told to run as nobody.
	if err := filepath.WalkDir(data, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	owner := strconv.Itoa(nobody)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	for _, args := range [][]string{{"db", "compact"}, {"db", "restore", backup}} {
		out, code := cliAs(t, 1, cfg, args...)
		if code == 0 || !strings.Contains(out, "run it as "+owner+" (sudo -u "+owner+" umbra "+args[0]+" "+args[1]) ||
			strings.Contains(out, "chown") || strings.Contains(out, "start again") {
			t.Errorf("%s as uid 1 on %s's data directory: exit %d\n%s", strings.Join(args, " "), owner, code, out)
		}
	}
	// serve as uid 1: give the directory to the user umbra runs as.
	if ok, log := serveAs(t, cfg, listen, 1); ok || !strings.Contains(log, "Give the data directory back to the user umbra runs as and start again: chown -R ") {
		t.Errorf("serve as uid 1 on %s's data directory: started %v\n%s", owner, ok, log)
	}
}
