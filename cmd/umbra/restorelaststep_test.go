package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// OPS-3 (lifert43 F3): a db restore killed at its last step (the
// removal of queue.db.restore-suffix, everything else done) leaves the
// restored database, still carrying its backup mark, the replaced one
// as queue.db.replaced-TIME, the suffix file and the side lock. The
// start deleted the suffix file without a word and did not say it
// finished that restore; every file a start deletes beside queue.db is
// logged with its name and why, and the finished restore with its step.
// The leftovers are made by hand: a restore that ran to its end, then
// the two files its kill would have left.
func TestStartLogsTheSuffixFileOfARestoreKilledAtItsLastStep(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.162:9201"
	cfg := relayConfig(t, dir, listen, "127.0.0.162:9202")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "queue.db")
	// The database replaced, and a backup of another one.
	for _, p := range []string{path, filepath.Join(dir, "src.db")} {
		s, err := queue.Open(p, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	src, err := queue.Open(filepath.Join(dir, "src.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	kept, err := queue.RestoreWith(backup, path, queue.RestoreOptions{})
	if err != nil || kept == "" {
		t.Fatalf("restore: kept %q, %v", kept, err)
	}
	suffixFile := path + ".restore-suffix"
	if err := os.WriteFile(suffixFile, []byte(strings.TrimPrefix(kept, path)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".cmdlock", []byte("999999\numbra db restore "+backup+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if _, err := os.Lstat(suffixFile); err == nil {
		t.Fatalf("%s kept", suffixFile)
	}
	logged := false
	for _, l := range logLinesWith(d, suffixFile) {
		logged = logged || strings.Contains(l, "WARN") && strings.Contains(l, "finished an umbra db restore that was interrupted after it replaced the database")
	}
	if !logged {
		t.Errorf("no WARN line says the start removed %s, finishing the interrupted restore:\n%s", suffixFile, strings.Join(logLinesWith(d, "restore"), "\n"))
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the replaced database %s: %v", kept, err)
	}
}
