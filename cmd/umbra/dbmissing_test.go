package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt33c F6): db compact with no queue.db in the data directory
// printed "umbra: stat c/data/queue.db: no such file or directory",
// exit 1, and db restore of a missing backup "restore: stat …". Each
// says it in words, naming the file (and the compaction the data
// directory and the configuration), exit 3 (no such …), nothing made.
func TestOPS3DBCommandOfAMissingFileIsSaid(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.175:13176\"]}]\n"+
		"mailbox: {maildir: mail}\n"), 0o600)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	code, out := cliErr(t, cfg, "db", "compact")
	if code != exitNotFound || !strings.Contains(out, "no transport database") || !strings.Contains(out, filepath.Join(data, "queue.db")) ||
		!strings.Contains(out, cfg) || strings.Contains(out, "stat ") {
		t.Errorf("db compact without queue.db: exit %d %q; want exit %d naming the database, data_dir and %s", code, out, exitNotFound, cfg)
	}
	missing := filepath.Join(dir, "none.db")
	code, out = cliErr(t, cfg, "db", "restore", missing)
	if code != exitNotFound || !strings.Contains(out, "no backup file "+missing) || strings.Contains(out, "stat ") {
		t.Errorf("db restore of a missing backup: exit %d %q; want exit %d naming it", code, out, exitNotFound)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("the refused commands left %v in the data directory", ents)
	}
}
