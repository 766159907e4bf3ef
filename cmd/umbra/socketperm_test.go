package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// OPS: a management command run by a user the admin socket refuses
// (connect: permission denied) says it is a permission problem — the
// socket, its owner and mode, and to run the command as that user or
// root — with exit 77 (EX_NOPERM), never "umbra is not running" and
// exit 69 (rt17a F4); with --json the refusal is the JSON object on
// standard output with the same exit.
func TestAdminSocketPermissionDenied(t *testing.T) {
	needRoot(t) // to run the command as another user
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	os.Chmod(cfg, 0o644)
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	startUmbra(t, cfg, listen) // as root: its socket is root's, mode 0660
	out, code := cliAs(t, nobody, cfg, "queue", "list")
	if code != 77 || !strings.Contains(out, "permission") || !strings.Contains(out, "root") || strings.Contains(out, "not running") {
		t.Fatalf("queue list as nobody against root's daemon: exit %d %q, want 77 naming the permission and the socket's owner", code, out)
	}

	cmd := exec.Command(umbraBin, "--config", cfg, "queue", "list", "--json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdout, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 77 {
		t.Fatalf("queue list --json as nobody: %v, want exit 77", err)
	}
	var v struct {
		Error string
		Exit  int
	}
	if err := json.Unmarshal(stdout, &v); err != nil || v.Exit != 77 || !strings.Contains(v.Error, "permission") {
		t.Fatalf("queue list --json as nobody: %q (%v), want {error: …permission…, exit: 77}", stdout, err)
	}

	// The daemon's own user still reaches it.
	if out, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Fatalf("queue list as root: exit %d %q", code, out)
	}
}
