package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-1/SR-12: a directory umbra must write that exists but does not let
// this process create files (here /proc/1: there, not writable even by
// root) is refused by serve at its setting's line before anything
// starts, as an unwritable mailbox.maildir is — not accepted, with every
// pickup file then left unsubmitted or every tracking log rotation
// failing, the cause in the log alone. A reload that moves the pickup
// directory there is refused alike.
func TestUnwritableDirectoriesRefusedAtTheirLine(t *testing.T) {
	const bad = "/proc/1"
	if err := syscall.Access(bad, 0x2|0x1); err == nil {
		t.Skipf("%s is writable here", bad)
	}
	for _, c := range []struct{ name, server, yaml, want string }{
		{"pickup", "", "pickup:\n  directory: " + bad + "\n", ":5: pickup.directory " + bad},
		{"tracking", "", "tracking:\n  enabled: true\n  path: " + bad + "/tracking.log\n", ":6: tracking.path " + bad + "/tracking.log"},
		{"admin socket", ", admin_socket: " + bad + "/admin.sock", "", ":1: server.admin_socket " + bad + "/admin.sock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			listen := freeAddr(t, "127.0.0.1")
			cfg := filepath.Join(dir, "hub.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.dirs.test, data_dir: %s, metrics_listen: ""%s}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s%s`, filepath.Join(dir, "data"), c.server, c.yaml, submitConnector("in", listen))), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, umbraBin, "serve", "-c", cfg).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 {
				t.Fatalf("serve with %s: %v, want a refusal\n%s", c.name, err, out)
			}
			if want := cfg + c.want; !strings.Contains(string(out), want) || !strings.Contains(string(out), "may not create files there") {
				t.Errorf("serve's refusal does not name the setting at its line (%q) and the cause:\n%s", want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Errorf("a refused start left the data directory behind (%v)", err)
			}
			if c.name != "pickup" {
				return
			}
			// A running daemon: a reload to that directory fails.
			os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "directory: "+bad, "directory: "+filepath.Join(dir, "pickup"), 1)), 0o600)
			d := startUmbra(t, cfg, listen)
			d.dumpLogIfFailed()
			os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "directory: "+filepath.Join(dir, "pickup"), "directory: "+bad, 1)), 0o600)
			d.cmd.Process.Signal(syscall.SIGHUP)
			waitCond(t, "the reload refused", 30*time.Second, func() bool {
				log := string(mustRead(t, d.log))
				return strings.Contains(log, "reload failed") && strings.Contains(log, "pickup.directory "+bad)
			})
		})
	}
}
