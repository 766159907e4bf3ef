package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: rt33c F9 gives the topology's errors with those of a
// configuration that does not load, deduplicated by their text only.
// A topology path that is a directory is refused by the configuration's
// own load ("topology tdir is not a regular file (a directory)") and
// then again by TopologyErrors ("topology tdir: is a directory"): one
// error, said twice at the same line, as if two.
func TestConfigCheckSaysAnUnreadableTopologyOnce(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "tdir"), 0o700)
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("server:\n  name: x\ntopology: tdir\n"), 0o600)
	code, out := runSock(t, "config", "check", cfg)
	if code != exitConfig {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := strings.Count(out, "c.yaml:3:"); n != 1 {
		t.Errorf("the topology that is a directory said %d times at c.yaml:3, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "c.yaml:1: at least one receive connector") {
		t.Errorf("the configuration's own error is missing:\n%s", out)
	}
}
