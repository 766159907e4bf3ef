package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
)

// OPS-3: a running, ready daemon whose configuration file was edited
// since its start or last reload to name another admin socket, or
// another data_dir, is not "starting" (exit 75, forever: nothing will
// answer at the new path) nor "not running" (exit 69 though it runs):
// a command says it runs, where its socket is, and how to reach it —
// SIGHUP, or --socket OLD — exit 69 (rt26c F2).
func TestCommandsTellARunningDaemonOfAnEditedFile(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.195"), freeAddr(t, "127.0.0.196")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := c.Server.AdminSocket
	orig, _ := os.ReadFile(cfg)
	if _, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Fatalf("queue list before the edit: exit %d", code)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"admin_socket", "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  admin_socket: " + filepath.Join(dir, "ctl.sock") + "\n", "SIGHUP"},
		{"data_dir", "  data_dir: " + filepath.Join(dir, "data") + "\n", "  data_dir: " + filepath.Join(dir, "newdata") + "\n", "restart"},
	} {
		os.WriteFile(cfg, orig, 0o600)
		editConfig(t, cfg, tc.from, tc.to)
		_, errOut, code := cliAll(t, cfg, "queue", "list")
		if code != exitUnavailable || !strings.Contains(errOut, "umbra runs, but") || !strings.Contains(errOut, "--socket "+old) ||
			!strings.Contains(errOut, tc.want) || strings.Contains(errOut, "starting") {
			t.Errorf("%s edited, no reload: exit %d %q\nwant exit %d: umbra runs, but …, --socket %s, %s", tc.name, code, errOut, exitUnavailable, old, tc.want)
		}
		if _, code := cli(t, cfg, "--socket", old, "queue", "list"); code != 0 {
			t.Errorf("%s edited: queue list --socket %s: exit %d", tc.name, old, code)
		}
	}
	os.WriteFile(cfg, orig, 0o600)
	if _, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Errorf("queue list with the file restored: exit %d", code)
	}
}

// OPS-3 (rr-opsrt38 F2): a socket named on purpose (--socket, absolute
// or relative, or UMBRA_SOCKET) that the daemon no longer answers on —
// a reload moved it — is not blamed on a configuration file (none was
// read) and gets no SIGHUP advice (the daemon has reloaded: another
// SIGHUP changes nothing): the answer names the socket the daemon
// answers on, exit 69.
func TestCommandsTellANamedSocketTheDaemonMovedFrom(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.122"), freeAddr(t, "127.0.0.122")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	old := filepath.Join(dir, "data", "admin.sock")
	moved := filepath.Join(dir, "data2", "admin.sock")
	editConfig(t, cfg, "  data_dir: "+filepath.Join(dir, "data")+"\n", "  data_dir: "+filepath.Join(dir, "data2")+"\n")
	hupAndWait(t, d)
	waitCond(t, "the admin socket moved", 10*time.Second, func() bool {
		_, _, code := umbraIn(t, dir, nil, "--socket", moved, "queue", "list")
		return code == 0
	})
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--socket absolute", nil, []string{"--socket", old}},
		{"--socket relative", nil, []string{"--socket", filepath.Join("data", "admin.sock")}},
		{"UMBRA_SOCKET", []string{"UMBRA_SOCKET=" + old}, nil},
	} {
		_, errOut, code := umbraIn(t, dir, tc.env, append(tc.args, "queue", "list")...)
		if code != exitUnavailable || !strings.Contains(errOut, "umbra runs, but not at this admin socket") ||
			!strings.Contains(errOut, "--socket "+moved) || strings.Contains(errOut, "SIGHUP") || strings.Contains(errOut, "kill -HUP") ||
			strings.Contains(errOut, "configuration file names") {
			t.Errorf("%s: exit %d %q\nwant exit %d: umbra runs, but not at this admin socket …, --socket %s, no configuration file blamed, no SIGHUP advice",
				tc.name, code, errOut, exitUnavailable, moved)
		}
	}
	// track and route explain fall back to a file when the daemon does
	// not answer, and say why in the same terms.
	for _, args := range [][]string{{"track", "--since", "1h"}, {"route", "explain", "b@remote.example"}} {
		_, errOut, _ := umbraIn(t, dir, nil, append([]string{"--socket", old}, args...)...)
		if !strings.Contains(errOut, "answers on "+moved) || strings.Contains(errOut, "SIGHUP") || strings.Contains(errOut, "configuration file was edited") {
			t.Errorf("%s --socket %s: %q\nwant: answers on %s, no configuration file blamed, no SIGHUP advice", args[0], old, errOut, moved)
		}
	}
}

// OPS-1 (rr-opsrt38): a reload makes nothing for a setting that takes
// effect only at a restart. data_dir changed: the Maildir stays the
// running data_dir's (a relative mailbox.maildir is derived from it),
// and no <new data_dir>/maildir is made; tracking.path moved: its
// directory is checked (a reload to one that cannot be made is refused,
// unwritabledirs_test.go) but not made until the restart uses it.
func TestReloadMakesNoDirectoryForARestartOnlySetting(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.122"), freeAddr(t, "127.0.0.122")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	editConfig(t, cfg, "  data_dir: "+filepath.Join(dir, "data")+"\n", "  data_dir: "+filepath.Join(dir, "data2")+"\n")
	editConfig(t, cfg, "mailbox:\n", "tracking:\n  path: "+filepath.Join(dir, "trk2", "tracking.log")+"\nmailbox:\n")
	hupAndWait(t, d)
	if b, _ := os.ReadFile(d.log); !strings.Contains(string(b), "apply only after a restart") {
		t.Fatalf("the reload did not apply:\n%s", b)
	}
	for _, p := range []string{filepath.Join(dir, "data2", "maildir"), filepath.Join(dir, "trk2")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s made by a reload whose change applies only at a restart", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "maildir")); err != nil {
		t.Errorf("the running Maildir: %v", err)
	}
}
