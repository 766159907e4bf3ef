package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (lifert43 F3 sibling): a start with transport.space_reserve: 0
// removes the space.reserve an earlier start made beside queue.db — and
// did so without a word, where every file a start deletes in the data
// directory is logged with its name and why.
func TestStartLogsTheSpaceReserveItRemoves(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.162:9220"
	cfg := relayConfig(t, dir, listen, "127.0.0.162:9221")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "transport:\n", "transport:\n  space_reserve: 0\n", 1)), 0o600)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	reserve := filepath.Join(data, "space.reserve")
	if err := os.WriteFile(reserve, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if _, err := os.Lstat(reserve); err == nil {
		t.Fatalf("%s kept with transport.space_reserve: 0", reserve)
	}
	found := false
	for _, l := range logLinesWith(d, reserve) {
		found = found || strings.Contains(l, "WARN") && strings.Contains(l, "removed") && strings.Contains(l, "space_reserve")
	}
	if !found {
		t.Errorf("no WARN line says %s was removed and why (transport.space_reserve: 0)", reserve)
	}
}
