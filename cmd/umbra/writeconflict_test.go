package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ops11's F2 class, the CLI's writers (paths12): dkim keygen --out,
// message export -o and db backup never create their file inside a place umbra
// writes (the spool, the Maildir tree, the pickup directory, where an
// exported NAME.eml would be submitted again and a key removed or
// renamed with the mail). Refused (exit 1) before anything is written
// or the daemon is asked, naming the place, as the configuration
// (--config) places it; elsewhere they write as before.
func TestCLIWritersKeepOutOfUmbrasPlaces(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"data/spool", "mail/example.test", "pick", "keys"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+filepath.Join(dir, "none.sock")+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.1:2525\"]}]\n"+
		"mailbox: {maildir: ../mail}\npickup: {directory: ../pick}\n"), 0o600)
	refused := func(what string, want string, args ...string) {
		t.Helper()
		out, err := exec.Command(umbraBin, append(args, "--config", cfg)...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s\nwant exit 1 and %q", what, err, out, want)
		}
	}
	spool := filepath.Join(dir, "data", "spool")
	refused("keygen into the spool", "is inside the spool directory "+spool,
		"dkim", "keygen", "example.test", "s1", "--out", spool)
	refused("keygen into the Maildir tree", "is inside mailbox.maildir "+filepath.Join(dir, "mail"),
		"dkim", "keygen", "example.test", "s1", "--out", filepath.Join(dir, "mail", "example.test"))
	refused("export into the pickup directory", "is inside pickup.directory "+filepath.Join(dir, "pick"),
		"message", "export", "0000000000000001", "-o", filepath.Join(dir, "pick", "again.eml"))
	refused("backup into the spool", "is inside the spool directory "+spool,
		"db", "backup", filepath.Join(spool, "queue.backup"))
	// The names db compact and db restore write beside queue.db, which
	// the next start removes (rt53 R1).
	for _, name := range []string{"queue.db.compact", "queue.db.restore", "queue.db.restore-compact", "queue.db-compact"} {
		refused("backup as "+name, "the next start removes it", "db", "backup", filepath.Join(dir, "data", name))
		refused("export as "+name, "the next start removes it", "message", "export", "0000000000000001", "-o", filepath.Join(dir, "data", name))
	}
	for _, d := range []string{spool, filepath.Join(dir, "mail", "example.test"), filepath.Join(dir, "pick")} {
		if names, _ := os.ReadDir(d); len(names) != 0 {
			t.Errorf("%s: %d files written", d, len(names))
		}
	}
	out, err := exec.Command(umbraBin, "dkim", "keygen", "example.test", "s1", "--out", filepath.Join(dir, "keys"), "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen into a directory of its own: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "example.test.s1.key")); err != nil {
		t.Fatal(err)
	}
}

// Without --config, the places are the running daemon's: a command that
// finds the daemon by its socket ($UMBRA_SOCKET) judges the file against
// the configuration the daemon runs (rt53 R1: a backup landed in the
// spool, and the next start removed it).
func TestCLIWritersJudgedByTheDaemonsConfiguration(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	spool := filepath.Join(dir, "data", "spool")
	cmd := exec.Command(umbraBin, "db", "backup", filepath.Join(spool, "b.db"))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "UMBRA_SOCKET="+filepath.Join(dir, "data", "admin.sock"), "UMBRA_CONFIG=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "is inside the spool directory") {
		t.Errorf("backup into the daemon's spool by its socket: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(spool, "b.db")); err == nil {
		t.Error("the backup was written into the spool")
	}
}

// message export -o writes through a temporary file beside the file
// given; an error names the file given, never the temporary one
// (README: file errors name what the operator gave; fixd19: `open
// …/nodir/.umbra-export-784786463.eml`). Refused before the daemon is
// asked: none runs here.
func TestExportErrorNamesTheFileGiven(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+filepath.Join(dir, "none.sock")+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.1:2525\"]}]\n"+
		"mailbox: {maildir: ../mail}\n"), 0o600)
	for _, out := range []string{filepath.Join(dir, "nodir", "x.eml"), filepath.Join("nodir", "x.eml")} {
		cmd := exec.Command(umbraBin, "message", "export", "0000000000000001", "-o", out, "--config", cfg)
		cmd.Dir = dir
		got, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		want := "message export -o " + out + ": the directory " + filepath.Dir(out) + " does not exist"
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(got), want) || strings.Contains(string(got), ".umbra-export") {
			t.Errorf("export -o %s: %v\n%s\nwant exit 1 and %q", out, err, got, want)
		}
	}
}

// db backup into a missing directory names the file given and is
// refused before the daemon is asked for a copy (fixd19: the daemon
// wrote its snapshot and logged `database backup … failed: broken pipe`
// while the CLI named its own temporary file).
func TestBackupIntoMissingDirectoryRefusedFirst(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	cmd := exec.Command(umbraBin, "db", "backup", filepath.Join("nodir", "b.db"), "--config", cfg)
	cmd.Dir = dir
	got, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if want := "backup nodir/b.db: the directory nodir does not exist"; !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(got), want) {
		t.Fatalf("db backup nodir/b.db: %v\n%s\nwant exit 1 and %q", err, got, want)
	}
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "database backup") {
		t.Errorf("the daemon was asked for a copy:\n%s", b)
	}
}
