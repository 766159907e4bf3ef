package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the user the daemon runs as in the ownership tests: not the
// root the operator runs the db commands as.
const nobody = 65534

// ownedBy fails the test for every file under root (root included) that
// is not owned by uid:gid.
func ownedBy(t *testing.T, root string, uid, gid int) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, _ := os.Lstat(p)
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s is owned by %d:%d (%v), want %d:%d", p, st.Uid, st.Gid, fi.Mode(), uid, gid)
		}
		return nil
	})
}

// serveAs runs umbra serve as uid:gid until it is ready or has exited;
// it returns the exit error (nil: ready) and the log.
func serveAs(t *testing.T, cfg, listen string, uid int) (bool, string) {
	t.Helper()
	logPath := cfg + ".as.log"
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	hostMarksOff(t, cfg)
	cmd := exec.Command(umbraBin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { cmd.Process.Kill(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			done <- nil
			return false, string(b)
		default:
		}
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "umbra ready") {
			return true, string(b)
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("umbra neither ready nor ended:\n%s", b)
	return false, ""
}

// The installed layout (rt58 F1): the data directory and its files
// belong to the user umbra runs as; the operator runs db compact and db
// restore as root. The files they write keep the owner of the files they
// replace (the data directory's, for a new one), so that the daemon
// starts on them; and a start that cannot open its database for
// permission says so, with the owner, the mode and the command that
// fixes it — never that the database is damaged.
func TestDBCommandsAsRootKeepOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the db commands run as root on files of another user")
	}
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "transport:\n", "transport:\n  spool_threshold: 64KiB\n", 1)), 0o644)
	os.Chmod(cfg, 0o644)
	// The user umbra runs as reaches the binary, the configuration and
	// the directory above the data directory.
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	d := startUmbra(t, cfg, listen)
	if err := sendBDAT(listen, 200<<10, 32<<10); err != nil { // spooled
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	data := filepath.Join(dir, "data")
	if err := filepath.WalkDir(data, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "queue.db")

	if out, code := cli(t, cfg, "db", "compact"); code != 0 {
		t.Fatalf("db compact: exit %d %q", code, out)
	}
	ownedBy(t, db, nobody, nobody)
	if ok, log := serveAs(t, cfg, listen, nobody); !ok {
		t.Fatalf("umbra, as the data directory's user, did not start on the compacted database:\n%s", log)
	}
	if out, code := cli(t, cfg, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore: exit %d %q", code, out)
	}
	ownedBy(t, db, nobody, nobody)
	ownedBy(t, filepath.Join(data, "spool"), nobody, nobody)
	if ok, log := serveAs(t, cfg, listen, nobody); !ok {
		t.Fatalf("umbra, as the data directory's user, did not start on the restored database:\n%s", log)
	}

	// A file another user made (an older release's restore, a cp):
	// refused for what it is.
	os.Lchown(db, 0, 0)
	ok, log := serveAs(t, cfg, listen, nobody)
	if ok {
		t.Fatal("umbra started on a database it cannot open")
	}
	if strings.Contains(log, "database is damaged") || !strings.Contains(log, "permission denied") || !strings.Contains(log, "chown ") ||
		!strings.Contains(log, "-rw-------") {
		t.Errorf("the refusal of a database owned by another user does not say what is wrong and how to fix it:\n%s", log)
	}
}
