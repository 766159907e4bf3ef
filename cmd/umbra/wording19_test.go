package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Refusals say what is the matter (fixh19 item 6): db verify of a file
// that is no bbolt database says it is not a backup, not that a backup
// is damaged; db backup naming a directory says it is a directory, not
// that "the file exists"; dumpster remove with --until not after
// --since is a usage error (exit 64), as track's, not "0 copies".
func TestRefusalsSayWhatIsTheMatter(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)

	yaml := filepath.Join(dir, "dev.yaml")
	os.WriteFile(yaml, []byte("server: {name: x}\n"+strings.Repeat("# a comment line of a configuration file\n", 200)), 0o600)
	for _, f := range []string{yaml, cfg} {
		_, errOut, code := cliAll(t, cfg, "db", "verify", f)
		if code != exitFailure || !strings.Contains(errOut, "is not a backup") || strings.Contains(errOut, "damaged") {
			t.Errorf("db verify %s: exit %d %q, want 1 saying it is not a backup", filepath.Base(f), code, errOut)
		}
	}
	bk := filepath.Join(dir, "bk")
	os.Mkdir(bk, 0o700)
	_, errOut, code := cliAll(t, cfg, "db", "backup", bk+"/")
	if code != exitFailure || !strings.Contains(errOut, "is a directory") || strings.Contains(errOut, "the file exists") {
		t.Errorf("db backup into a directory: exit %d %q, want 1 saying it is a directory", code, errOut)
	}
	_, errOut, code = cliAll(t, cfg, "dumpster", "remove", "--database", "local", "--since", "1h", "--until", "2h", "--yes")
	if code != exitUsage || !strings.Contains(errOut, "--until") {
		t.Errorf("dumpster remove --since 1h --until 2h: exit %d %q, want 64", code, errOut)
	}
}
