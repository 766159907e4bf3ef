package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// OPS-3: a command given -c FILE asks the daemon which file it runs
// only after UMBRA_ADMIN_TIMEOUT was read: an invalid value is refused
// without contacting the daemon, and a daemon that does not answer
// holds the command the operator's timeout, not the default 30 s first.
func TestOPS3RunningConfigCheckAfterAdminEnv(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "hung.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hung := testsupport.Accept(t, ln, nil) // reads nothing, answers nothing: a hung daemon
	cfg := filepath.Join(dir, "umbra.yaml")
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+sock+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.1:2525\"]}]\n"+
		"mailbox: {maildir: ../mail}\n"), 0o600)

	// A bad value: refused as usage, the daemon never contacted. The
	// guard only ends a hang; nothing is measured.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, umbraBin, "--config", cfg, "queue", "list")
	cmd.Env = append(os.Environ(), "UMBRA_ADMIN_TIMEOUT=soon")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "UMBRA_ADMIN_TIMEOUT") {
		t.Errorf("UMBRA_ADMIN_TIMEOUT=soon: %v\n%s\nwant exit %d (usage) naming UMBRA_ADMIN_TIMEOUT", err, out, exitUsage)
	}
	if n := hung.Count(); n != 0 {
		t.Errorf("UMBRA_ADMIN_TIMEOUT=soon: the daemon was contacted %d times before the value was refused", n)
	}

	// A 1 s timeout against a daemon that never answers: the command
	// gives up by the timeout it was given and says which. The guard
	// only ends a hang; nothing is measured.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	cmd = exec.CommandContext(ctx2, umbraBin, "--config", cfg, "queue", "list")
	cmd.Env = append(os.Environ(), "UMBRA_ADMIN_TIMEOUT=1s")
	out, err = cmd.CombinedOutput()
	if ctx2.Err() != nil || !strings.Contains(string(out), "within 1s") {
		t.Errorf("--config FILE queue list with UMBRA_ADMIN_TIMEOUT=1s against a daemon that does not answer: %v\n%s\nwant it to give up within 1s and say so", err, out)
	}
}
