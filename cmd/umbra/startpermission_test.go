package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-1 (lifert43 F1): a start refused a file of its data directory
// that it may not open in one wording for every cause: "belongs to
// another user … chown -R nobody:nogroup data" also for a queue.db that
// was nobody's own at mode 0400, which that chown does not fix; and a
// tracking log at 0400 was refused with a bare "permission denied", no
// setting named, no advice. Every such refusal (one function) tells the
// cases apart: this user's file without the bits (chmod u+rw, its mode
// named), another user's file (chown), the setting it comes from.
func TestOPS1StartPermissionRefusalTellsTheCasesApart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon runs as nobody")
	}
	dir := t.TempDir()
	listen := "127.0.0.162:9210"
	cfg := relayConfig(t, dir, listen, "127.0.0.162:9211")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("tracking:\n  enabled: true\n")
	f.Close()
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(cfg, 0o644)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "queue.db")
	s, err := queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	track := filepath.Join(data, "tracking.log")
	if err := os.WriteFile(track, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	serve := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, umbraBin, "serve", "--config", cfg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("serve as nobody: %v, want exit 1\n%s", err, out)
		}
		return string(out)
	}
	// nobody's own queue.db at 0400.
	os.Chmod(db, 0o400)
	out := serve()
	if !strings.Contains(out, "chmod u+rw "+db) || !strings.Contains(out, "-r--------") || strings.Contains(out, "chown") ||
		strings.Contains(out, "another user") {
		t.Errorf("queue.db of the daemon's own user at 0400: want chmod u+rw naming its mode, no chown:\n%s", out)
	}
	// nobody's own tracking log at 0400: its setting named, the fix.
	os.Chmod(db, 0o600)
	os.Chmod(track, 0o400)
	out = serve()
	if !strings.Contains(out, "tracking.path") || !strings.Contains(out, "chmod u+rw "+track) || strings.Contains(out, "chown") {
		t.Errorf("tracking.log of the daemon's own user at 0400: want its setting and chmod u+rw:\n%s", out)
	}
	// queue.db of another user: chown.
	os.Chmod(track, 0o600)
	os.Chown(db, 0, 0)
	out = serve()
	if !strings.Contains(out, "another user") || !strings.Contains(out, "chown -R nobody") {
		t.Errorf("queue.db of root: want another user and chown:\n%s", out)
	}
}
