package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: data_dir/peerwait, the marker directory of an older release,
// is removed by every start (queue: readOldMarkers: a file at that name
// removed, a directory with all in it), so it is on the one list of
// names a start removes: db backup and message export refuse it and
// every name inside it (exit 1), instead of writing a sound file there
// that the next start deletes without a word.
func TestOPS3OutputAtPeerWaitRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+filepath.Join(dir, "none.sock")+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.1:2525\"]}]\n"+
		"mailbox: {maildir: ../mail}\n"), 0o600)
	data := filepath.Join(dir, "data")
	for _, name := range []string{filepath.Join(data, "peerwait"), filepath.Join(data, "peerwait", "b.db")} {
		for _, args := range [][]string{
			{"db", "backup", name},
			{"message", "export", "0000000000000001", "-o", name},
		} {
			out, err := exec.Command(umbraBin, append(args, "--config", cfg)...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "peerwait") {
				t.Errorf("%s: %v\n%s\nwant exit 1 naming peerwait", strings.Join(args, " "), err, out)
			}
		}
		if _, err := os.Lstat(name); err == nil {
			t.Errorf("%s written", name)
		}
	}
}

// OPS-3: what a start removes at data_dir/peerwait is logged with its
// name and why, as every other leftover it removes.
func TestOPS3StartLogsPeerWaitItRemoves(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, freeAddr(t, "127.0.0.1"))
	p := filepath.Join(dir, "data", "peerwait")
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "a finished backup"), []byte("kept?"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if _, err := os.Lstat(p); err == nil {
		t.Errorf("%s kept", p)
	}
	found := false
	for _, l := range logLinesWith(d, p) {
		found = found || strings.Contains(l, "removed") && strings.Contains(l, "why=")
	}
	if !found {
		t.Errorf("no log line says %s was removed and why", p)
	}
}
