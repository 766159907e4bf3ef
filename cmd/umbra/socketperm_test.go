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

// OPS: a start whose admin socket is another process's, which refuses
// this user (connect: permission denied), is refused as in use, saying
// it is a permission problem; it never takes the socket for a stale one
// of a process that is gone and replaces it, which would leave the
// running daemon unreachable (the sibling of rt17a F4).
func TestServeRefusesAdminSocketItMayNotUse(t *testing.T) {
	needRoot(t) // to run serve as another user
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	for _, p := range []string{filepath.Dir(umbraBin), dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o755)
	}
	startUmbra(t, cfg, listen) // as root: its socket is root's, mode 0660
	sock := filepath.Join(dir, "data", "admin.sock")
	os.Chown(filepath.Join(dir, "data"), nobody, nobody) // nobody may remove the socket's name

	dir2 := t.TempDir()
	os.Chmod(dir2, 0o755)
	listen2 := freeAddr(t, "127.0.0.1")
	cfg2 := relayConfig(t, dir2, listen2, sinkAddr)
	b, _ := os.ReadFile(cfg2)
	os.WriteFile(cfg2, []byte(strings.Replace(string(b), "server:\n", "server:\n  admin_socket: "+sock+"\n", 1)), 0o644)
	os.Chmod(cfg2, 0o644)
	os.Chown(dir2, nobody, nobody)
	ready, log := serveAs(t, cfg2, listen2, nobody)
	if ready || !strings.Contains(log, sock) || !strings.Contains(log, "permission") {
		t.Errorf("serve as nobody on root's admin socket: ready %v, log:\n%s\nwant refused naming the socket and the permission", ready, log)
	}
	if out, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Fatalf("queue list of the running daemon after the other start: exit %d %q", code, out)
	}
}
