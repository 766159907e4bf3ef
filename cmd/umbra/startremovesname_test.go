package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt32c F1): a file a command writes under a name the operator
// gives is never one a start, a compaction, a restore or a sweep
// removes or renames: db backup to data/.queue.db.snapshot-777 wrote
// a sound backup with exit 0, and the next start deleted it silently
// (the daemon's own name for a snapshot of a killed backup). Every such
// name is refused (exit 1) before the daemon is asked, by backup and
// export alike; none runs here.
func TestOutputNamesAStartOrSweepRemovesRefused(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"data", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+filepath.Join(dir, "none.sock")+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.1:2525\"]}]\n"+
		"mailbox: {maildir: ../mail}\n"), 0o600)
	refused := func(what, want string, args ...string) {
		t.Helper()
		out, err := exec.Command(umbraBin, append(args, "--config", cfg)...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s\nwant exit 1 and %q", what, err, out, want)
		}
	}
	data := filepath.Join(dir, "data")
	for _, name := range []string{
		filepath.Join(data, ".queue.db.snapshot-777"),       // a start removes it (a killed backup's snapshot)
		filepath.Join(data, ".queue.db.snapshot-spool-1"),   // and the directory of its spool links
		filepath.Join(data, "queue.db.restore-suffix"),      // a start removes it (a killed restore's)
		filepath.Join(data, "spool.restore"),                // a start removes or installs it
		filepath.Join(dir, "out", ".b.db.partial-L1-x"),     // db backup b.db sweeps it
		filepath.Join(dir, "out", ".umbra-export-L1-x.eml"), // message export -o sweeps it
	} {
		refused("backup as "+name, "removes", "db", "backup", name)
		refused("export as "+name, "removes", "message", "export", "0000000000000001", "-o", name)
		if _, err := os.Lstat(name); err == nil {
			t.Errorf("%s written", name)
		}
	}
	// A relative name is judged as the file it names.
	cmd := exec.Command(umbraBin, "db", "backup", ".queue.db.snapshot-42", "--config", cfg)
	cmd.Dir = data
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "the next start removes") {
		t.Errorf("backup as a relative snapshot name: %v\n%s", err, out)
	}
}

// OPS-3 (rt32c F1): what a start deletes beside the transport database
// as a leftover is logged, one line each, with its name and why: the
// snapshot a killed backup left was removed without a word.
func TestStartLogsEveryLeftoverItRemoves(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, ".queue.db.snapshot-spool-9"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".queue.db.snapshot-123", "queue.db.compact"} {
		if err := os.WriteFile(filepath.Join(data, f), []byte("left"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	for _, f := range []string{".queue.db.snapshot-123", ".queue.db.snapshot-spool-9", "queue.db.compact"} {
		p := filepath.Join(data, f)
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s kept", f)
		}
		found := false
		for _, l := range logLinesWith(d, p) {
			found = found || strings.Contains(l, "removed") && strings.Contains(l, "why=")
		}
		if !found {
			t.Errorf("no log line says %s was removed and why", p)
		}
	}
}

// OPS-3 (rt33c F1): a name a start of ANY umbra removes from its data
// directory is refused wherever it is, not only beside the database of
// the configuration the command reads: db backup of one umbra into
// another's data directory (an edge's lies inside or beside its hub's)
// wrote a sound backup, and that one's next start removed it as a
// leftover. Refused (exit 1) with why, before the daemon is asked, in
// a directory holding another queue.db and in one holding none.
func TestOutputNamesAStartOfAnyDataDirRemovesRefused(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"data", "other/data", "plain"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "other/data/queue.db"), nil, 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+filepath.Join(dir, "none.sock")+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.172:13172\"]}]\n"), 0o600)
	for _, in := range []string{"other/data", "plain"} {
		for _, base := range []string{"queue.db.restore", ".queue.db.snapshot-5", "queue.db.compact", "queue.db-compact",
			"queue.db.restore-compact", "queue.db.restore-suffix", "peerwait", "spool.restore", "queue.db.cmdlock",
			"peerwait.slots", "admin.run", "admin.run.tmp"} {
			name := filepath.Join(dir, in, base)
			for _, args := range [][]string{{"db", "backup", name}, {"message", "export", "0000000000000001", "-o", name}} {
				out, err := exec.Command(umbraBin, append(args, "--config", cfg)...).CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "any directory may be one umbra's data directory") {
					t.Errorf("%v: %v\n%s\nwant exit 1 and why (umbra removes or replaces it in its data directory)", args, err, out)
				}
			}
			if _, err := os.Lstat(name); err == nil {
				t.Errorf("%s written", name)
			}
		}
	}
}

// OPS-3 (rt33c F3): a start removes the side lock a killed db restore
// or compaction left (queue.db.cmdlock, its words in it, no lock held),
// and logs it as every other file it deletes beside queue.db: it went
// without a word.
func TestStartLogsAKilledCommandsSideLock(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.171:13171"
	cfg := relayConfig(t, dir, listen, "127.0.0.171:13172")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(data, "queue.db.cmdlock")
	if err := os.WriteFile(lock, []byte("999999\numbra db restore /tmp/b.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if _, err := os.Lstat(lock); err == nil {
		t.Errorf("%s kept", lock)
	}
	found := false
	for _, l := range logLinesWith(d, lock) {
		found = found || strings.Contains(l, "removed") && strings.Contains(l, "why=")
	}
	if !found {
		t.Errorf("no log line says %s was removed and why", lock)
	}
}
