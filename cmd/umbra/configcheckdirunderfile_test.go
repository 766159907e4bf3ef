package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: a directory setting that lies under a file is
// the configuration's refusal (PathFaults), said once, as serve says it:
// firstMissing's doc says so, but its os.Stat of the path itself fails
// with ENOTDIR (not ErrNotExist), so startDirsRefused adds a second
// refusal at the same line in other words ("stat …: not a directory")
// and the summary "names a directory this process may not make or
// write", which serve never says for it.
func TestOPS3ConfigCheckDirUnderFileSaidOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	os.WriteFile(file, []byte("x"), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.under.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: `+filepath.Join(file, "md")+`}
`+submitConnector("in", addr44k(t, "127.0.0.212"))), 0o600)
	out, _, code := runBounded(t, "config", "check", cfg)
	if code != exitConfig {
		t.Fatalf("config check: exit %d, want %d:\n%s", code, exitConfig, out)
	}
	if n := strings.Count(out, cfg+":3:"); n != 1 || strings.Contains(out, "may not make or write") {
		t.Errorf("config check said the Maildir under a file %d times (want once, as serve does):\n%s", n, out)
	}
	sout, _, _ := runBounded(t, "serve", "-c", cfg)
	t.Logf("serve says:\n%s", sout)
}
