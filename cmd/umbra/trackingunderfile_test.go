package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt31c F5): a tracking.path under a regular file is the
// loader's refusal (validatePaths: "… is not a directory (a regular
// file)"), said once, as serve says it. config check said it a second
// time at the same line ("open …/track.log: not a directory", the
// tracking log's own check meeting the file on the way) and summed it
// up as "tracking.path names a file that is not its tracking log" —
// there is no file.
func TestOPS3ConfigCheckTrackingUnderFileSaidOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	os.WriteFile(file, []byte("x"), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.under.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: `+filepath.Join(dir, "md")+`}
tracking: {path: `+filepath.Join(file, "t", "track.log")+`}
`+submitConnector("in", "127.0.0.142:9021")), 0o600)
	out, _, code := runBounded(t, "config", "check", cfg)
	if code != exitConfig {
		t.Fatalf("config check: exit %d, want %d:\n%s", code, exitConfig, out)
	}
	if n := strings.Count(out, cfg+":4:"); n != 1 || strings.Contains(out, "not its tracking log") || strings.Contains(out, "ReadWritePaths") {
		t.Errorf("config check said the tracking log under a file %d times (want once, as serve does, in true words):\n%s", n, out)
	}
	sout, _, _ := runBounded(t, "serve", "-c", cfg)
	if n := strings.Count(sout, cfg+":4:"); n != 1 {
		t.Errorf("serve said it %d times:\n%s", n, sout)
	}
}
