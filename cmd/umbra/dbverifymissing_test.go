package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3, OPS-5: db verify is the sibling of db restore and db compact
// (rt33c F6): a backup file that is not there said "verify: stat
// FILE: no such file or directory", exit 1 — Go's words, and the exit
// of a damaged backup. It says it in words, exit 3 (no such …).
func TestDBVerifyOfAMissingFileIsSaidInWords(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.134:8410\"]}]\n"+
		"mailbox: {maildir: mail}\n"), 0o600)
	missing := filepath.Join(dir, "none.db")
	code, out := cliErr(t, cfg, "db", "verify", missing)
	if code != exitNotFound || !strings.Contains(out, "no backup file "+missing) || strings.Contains(out, "stat ") {
		t.Errorf("db verify of a missing backup: exit %d %q; want exit %d naming it in words", code, out, exitNotFound)
	}
}
