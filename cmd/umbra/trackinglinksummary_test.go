package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-4: tracking.path a symbolic link to the operator's
// real tracking log (a setup that ran before ops28) is refused at the
// upgrade with the link named — and a summary line saying the path
// "names a file that is not its tracking log", which is untrue of a link
// to one: the operator is told the log is someone else's file.
func TestOPS4TrackingLinkSummaryNotCalledAnotherFile(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o750)
	os.MkdirAll(filepath.Join(dir, "logs"), 0o750)
	real := filepath.Join(dir, "logs", "tracking.log")
	os.WriteFile(real, []byte(`{"time":"2026-12-01T00:00:00Z","event":"receive"}`+"\n"), 0o640)
	link := filepath.Join(dir, "data", "tracking.log")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte("server: {name: hub.test, data_dir: "+filepath.Join(dir, "data")+", metrics_listen: \"\"}\n"+
		"accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: \"off\"}]\n"+
		"mailbox: {maildir: maildir}\n"+
		"tracking: {path: "+link+"}\n"+
		"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.215:15125\"]\n"), 0o600)
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("config check took tracking.path a symbolic link:\n%s", out)
	}
	if !strings.Contains(string(out), "hub.yaml:4: tracking log "+link+" is a symbolic link") {
		t.Errorf("the refusal is not at tracking.path's line naming the link:\n%s", out)
	}
	if strings.Contains(string(out), "names a file that is not its tracking log") {
		t.Errorf("a link to the tracking log is summed up as a file that is not its tracking log:\n%s", out)
	}
}
