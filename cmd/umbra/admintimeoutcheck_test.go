package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
	defer ln.Close()
	var accepted atomic.Int32
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			select { // read nothing, answer nothing: a hung daemon
			case held <- c:
			default:
				c.Close()
			}
		}
	}()
	defer func() {
		close(held)
		for c := range held {
			c.Close()
		}
	}()
	cfg := filepath.Join(dir, "umbra.yaml")
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+sock+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.1:2525\"]}]\n"+
		"mailbox: {maildir: ../mail}\n"), 0o600)

	// A bad value: refused as usage, the daemon never contacted. The
	// guard only bounds a wrong build; nothing is measured.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, umbraBin, "--config", cfg, "queue", "list")
	cmd.Env = append(os.Environ(), "UMBRA_ADMIN_TIMEOUT=soon")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "UMBRA_ADMIN_TIMEOUT") {
		t.Errorf("UMBRA_ADMIN_TIMEOUT=soon: %v\n%s\nwant exit %d (usage) naming UMBRA_ADMIN_TIMEOUT", err, out, exitUsage)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("UMBRA_ADMIN_TIMEOUT=soon: the daemon was contacted %d times before the value was refused", n)
	}

	// A 1 s timeout against a daemon that never answers: the command
	// ends by itself, well inside the guard, which is below the default
	// 30 s a check before the timeout would wait.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	cmd = exec.CommandContext(ctx2, umbraBin, "--config", cfg, "queue", "list")
	cmd.Env = append(os.Environ(), "UMBRA_ADMIN_TIMEOUT=1s")
	out, err = cmd.CombinedOutput()
	if ctx2.Err() != nil {
		t.Errorf("--config FILE queue list with UMBRA_ADMIN_TIMEOUT=1s against a daemon that does not answer did not end by itself: %v\n%s", err, out)
	}
}
