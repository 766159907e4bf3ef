package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-4: the tracking log opened its path following a symbolic link: one
// that resolves (to an empty file elsewhere) was written through, and a
// dangling one — refused when the configuration is loaded — was created
// at its target if planted after that. config check and the start refuse
// a link there, in one clear sentence, and nothing is written through it.
func TestOPS4TrackingPathSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	listen := opsAddr(t, "127.0.0.126")
	elsewhere := filepath.Join(dir, "elsewhere")
	os.MkdirAll(elsewhere, 0o700)
	target := filepath.Join(elsewhere, "planted.log")
	link := filepath.Join(dir, "track.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.link.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
tracking: {path: %s}
%s`, filepath.Join(dir, "data"), link, submitConnector("in", listen))), 0o600)
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, umbraBin, append([]string{"--config", cfg}, args...)...).CombinedOutput()
		return string(out), err
	}
	want := "is a symbolic link"
	if out, err := run("config", "check", cfg); err == nil || !strings.Contains(out, want) {
		t.Errorf("config check of a tracking.path that is a dangling link: %v\n%s\nwant %q", err, out, want)
	}
	if out, err := run("serve"); err == nil || !strings.Contains(out, want) {
		t.Errorf("serve with a tracking.path that is a dangling link: %v\n%s\nwant %q", err, out, want)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("the link's target %s was created", target)
	}

	// A link that resolves (config's load takes it for the file it
	// leads to) was written through: refused too, the file untouched.
	os.WriteFile(target, nil, 0o600)
	for _, args := range [][]string{{"config", "check", cfg}, {"serve"}} {
		if out, err := run(args...); err == nil || !strings.Contains(out, want) {
			t.Errorf("%s with a tracking.path that is a link to an empty file: %v\n%s\nwant %q", args[0], err, out, want)
		}
	}
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Errorf("written through the link: %q", b)
	}
}
