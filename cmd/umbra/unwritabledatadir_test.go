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

// OPS-1, OPS-3 (rt31c F6): an existing data directory this process may
// not create files in was refused by serve with no file:line and as "a
// file in the data directory belongs to another user" — the directory
// empty —, where config check named the setting's line; and with
// several directories it may not write, serve named only the first.
// serve and config check say the same: every such directory at its
// setting's line, in one run. (/proc/1 and /proc/sys/*: not writable,
// not even by root.)
func TestOPS1ServeAndConfigCheckNameEveryUnwritableDirectory(t *testing.T) {
	for _, d := range []string{"/proc/1", "/proc/sys/fs", "/proc/sys/kernel", "/proc/sys/vm"} {
		if err := syscall.Access(d, 0x2|0x1); err == nil {
			t.Skipf("%s is writable here", d)
		}
	}
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := filepath.Join(dir, "u.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  name: hub.dirs.test
  metrics_listen: ""
  data_dir: /proc/1
  admin_socket: %s
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox:
  maildir: /proc/sys/fs
pickup:
  directory: /proc/sys/kernel
tracking:
  enabled: true
  path: /proc/sys/vm/track.log
%s`, filepath.Join(dir, "admin.sock"), submitConnector("in", listen))), 0o600)
	want := []string{cfg + ":4: data directory /proc/1", cfg + ":8: mailbox.maildir /proc/sys/fs",
		cfg + ":10: pickup.directory /proc/sys/kernel", cfg + ":13: tracking.path /proc/sys/vm/track.log"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, args := range [][]string{{"config", "check", cfg}, {"serve", "-c", cfg}} {
		out, err := exec.CommandContext(ctx, umbraBin, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 {
			t.Fatalf("%s: %v, want a refusal\n%s", args[0], err, out)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("umbra %s does not say %q:\n%s", args[0], w, out)
			}
		}
		if strings.Contains(string(out), "belongs to another user") {
			t.Errorf("umbra %s says a file belongs to another user in a directory it may not write:\n%s", args[0], out)
		}
	}
}
