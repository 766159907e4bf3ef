package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// db restore --owner into a data directory whose parents are missing
// too (rt18c-F3): the parents it makes stay root's but are traversable
// (0755, as install -d makes them), the data directory is the user's
// (0750), and umbra starts as that user. A parent the user cannot pass
// through is named by the start's refusal, with the fix — not as a
// mkdir that was denied.
func TestRestoreOwnerMakesParentsTraversable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: db restore run as root for another user")
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
	d.kill()

	// The machine rebuilt: the data directory is to be under parents
	// that do not exist yet.
	top := filepath.Join(dir, "srv")
	data := filepath.Join(top, "a", "data")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), filepath.Join(dir, "data"), data, 1)), 0o644)
	if out, code := cliCombined(t, cfg, "db", "restore", "--owner", "65534:65534", backup); code != 0 {
		t.Fatalf("db restore --owner: exit %d %q", code, out)
	}
	for _, p := range []string{top, filepath.Dir(data)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o755 || st.Uid != 0 {
			t.Errorf("parent %s made by the restore: %v owned by %d, want drwxr-xr-x of root (traversable, not the user's)", p, fi.Mode(), st.Uid)
		}
	}
	ownedBy(t, data, nobody, nobody)
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("data directory %v %v, want mode 0750", fi.Mode(), err)
	}
	if ok, log := serveAs(t, cfg, listen, nobody); !ok {
		t.Fatalf("umbra, as the user named by --owner, did not start on the restored data directory:\n%s", log)
	}

	// A parent the user cannot pass through: the refusal names it.
	os.Chmod(top, 0o750)
	ok, log := serveAs(t, cfg, listen, nobody)
	if ok {
		t.Fatal("umbra started under a parent it cannot pass through")
	}
	if !strings.Contains(log, top+" ") || !strings.Contains(log, "chmod o+x "+top) {
		t.Errorf("the refusal does not name the parent umbra cannot pass through (%s) and its fix:\n%s", top, log)
	}
}
