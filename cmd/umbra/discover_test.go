package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/tracking"
)

// The management commands find the installed daemon without -c: the
// flags first, then UMBRA_SOCKET and UMBRA_CONFIG, then the socket of the
// installed daemon, then the installed configuration.
func TestAdminSocketDiscovery(t *testing.T) {
	dir := t.TempDir()
	savedSock, savedCfgs := installedSocket, installedConfigs
	t.Cleanup(func() { installedSocket, installedConfigs = savedSock, savedCfgs })
	installedSocket = filepath.Join(dir, "run", "admin.sock")
	installedConfigs = []string{filepath.Join(dir, "etc", "hub.yaml"), filepath.Join(dir, "etc", "edge.yaml")}
	t.Setenv("UMBRA_SOCKET", "")
	t.Setenv("UMBRA_CONFIG", "")

	socketOf := func(args ...string) string {
		t.Helper()
		root := newRootCmd()
		cmd, rest, err := root.Find(append([]string{"queue", "list"}, args...))
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatal(err)
		}
		path, err := adminSocket(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Nothing installed: the embedded default's socket (absolute).
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := socketOf(), filepath.Join(wd, "umbra-data", "admin.sock"); got != want {
		t.Errorf("without anything: %s", got)
	}
	// An installed configuration names the socket.
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	edgeSock := filepath.Join(dir, "edge.sock")
	os.WriteFile(installedConfigs[1], []byte(edgeConfig(edgeSock)), 0o644)
	if got := socketOf(); got != edgeSock {
		t.Errorf("installed edge.yaml: %s, want %s", got, edgeSock)
	}
	// The installed daemon's socket, once it exists, wins over the file.
	os.MkdirAll(filepath.Dir(installedSocket), 0o755)
	ln, err := net.Listen("unix", installedSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := socketOf(); got != installedSocket {
		t.Errorf("installed socket: %s", got)
	}
	// UMBRA_CONFIG, then UMBRA_SOCKET, then the flags override.
	other := filepath.Join(dir, "other.yaml")
	otherSock := filepath.Join(dir, "other.sock")
	os.WriteFile(other, []byte(edgeConfig(otherSock)), 0o644)
	t.Setenv("UMBRA_CONFIG", other)
	if got := socketOf(); got != otherSock {
		t.Errorf("UMBRA_CONFIG: %s", got)
	}
	t.Setenv("UMBRA_SOCKET", "/x/env.sock")
	if got := socketOf(); got != "/x/env.sock" {
		t.Errorf("UMBRA_SOCKET: %s", got)
	}
	if got := socketOf("--socket", "/x/flag.sock"); got != "/x/flag.sock" {
		t.Errorf("--socket: %s", got)
	}
	t.Setenv("UMBRA_SOCKET", "")
	if got := socketOf("-c", installedConfigs[1]); got != edgeSock {
		t.Errorf("-c: %s", got)
	}
}

// Both configurations are installed (make install puts both in
// /etc/umbra) but only one daemon may run, with its own socket: the CLI
// finds the one that runs, not the first file.
func TestAdminSocketDiscoveryFindsTheRunningRole(t *testing.T) {
	dir := t.TempDir()
	savedSock, savedCfgs := installedSocket, installedConfigs
	t.Cleanup(func() { installedSocket, installedConfigs = savedSock, savedCfgs })
	installedSocket = filepath.Join(dir, "run", "admin.sock")
	installedConfigs = []string{filepath.Join(dir, "hub.yaml"), filepath.Join(dir, "edge.yaml")}
	t.Setenv("UMBRA_SOCKET", "")
	t.Setenv("UMBRA_CONFIG", "")
	hubSock, edgeSock := filepath.Join(dir, "hub.sock"), filepath.Join(dir, "edge.sock")
	os.WriteFile(installedConfigs[0], []byte(edgeConfig(hubSock)), 0o644)
	os.WriteFile(installedConfigs[1], []byte(edgeConfig(edgeSock)), 0o644)
	root := newRootCmd()
	cmd, _, err := root.Find([]string{"queue", "list"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := adminSocket(cmd); got != hubSock {
		t.Errorf("neither runs: %s, want the first file's %s", got, hubSock)
	}
	ln, err := net.Listen("unix", edgeSock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got, _ := adminSocket(cmd); got != edgeSock {
		t.Errorf("the edge runs: %s, want %s", got, edgeSock)
	}
}

func edgeConfig(sock string) string {
	return `server:
  name: localhost
  role: hub
  data_dir: /nonexistent/umbra
  admin_socket: ` + sock + `
accepted_domains:
  - domain: localhost
    type: authoritative
receive_connectors:
  - name: local
    bindings: ["127.0.0.1:25"]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit]
mailbox:
  maildir: maildir
recipients:
  addresses: [postmaster@localhost]
`
}

// umbraIn runs the binary in dir with only env of the UMBRA_ variables
// set, and returns stdout, stderr and the exit code.
func umbraIn(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(umbraBin, args...)
	cmd.Dir = dir
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "UMBRA_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// track and route explain read the configuration of the daemon the admin
// commands talk to: named by --socket or UMBRA_SOCKET, the daemon says
// which file it runs and where its tracking log is, wherever the command
// is started; without a daemon they say on stderr which configuration
// they fell back to.
func TestTrackAndRouteExplainAskTheDaemon(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfgPath := relayConfig(t, dir, listen, sinkAddr) // the sink stays down
	startUmbra(t, cfgPath, listen)
	if ok, err := send(listen, "find-me"); !ok || err != nil {
		t.Fatalf("send: %v %v", ok, err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sock := cfg.Server.AdminSocket
	elsewhere := t.TempDir() // not the daemon's directory, no configuration

	for _, how := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--socket", nil, []string{"--socket", sock}},
		{"UMBRA_SOCKET", []string{"UMBRA_SOCKET=" + sock}, nil},
	} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, errOut, code := umbraIn(t, elsewhere, how.env, append(how.args, "track", "--json", "--event", "receive", "--since", "1h")...)
			var es []tracking.Entry
			json.Unmarshal([]byte(out), &es)
			if code == 0 && len(es) == 1 && errOut == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: track: exit %d, %d events\n%s\nstderr: %s", how.name, code, len(es), out, errOut)
			}
			time.Sleep(100 * time.Millisecond)
		}
		out, errOut, code := umbraIn(t, elsewhere, how.env, append(how.args, "route", "explain", "--json", "a@example.org")...)
		var ex routeExplanation
		if err := json.Unmarshal([]byte(out), &ex); err != nil || code != 0 || len(ex.Routes) != 1 ||
			ex.Routes[0].Destination != "send connector sink" || ex.Server != "hub.e2e.test" || errOut != "" {
			t.Errorf("%s: route explain: exit %d %v\n%s\nstderr: %s", how.name, code, err, out, errOut)
		}
	}

	// The file edited into an invalid state without a reload: the daemon
	// still writes the tracking log it names in its status, and track
	// reads it (it read the file and failed).
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, append(good, []byte("\nnot_a_setting: [\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := umbraIn(t, elsewhere, nil, "--socket", sock, "track", "--json", "--event", "receive", "--since", "1h")
	var es []tracking.Entry
	if json.Unmarshal([]byte(out), &es); code != 0 || len(es) != 1 {
		t.Errorf("track with the file edited into an invalid state: exit %d, %d events\n%s\nstderr: %s", code, len(es), out, errOut)
	}
	if err := os.WriteFile(cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}

	// No daemon named, none installed: the embedded default, said so.
	_, errOut, code = umbraIn(t, elsewhere, nil, "track", "--event", "receive", "--since", "1h")
	if code != exitNotFound || !strings.Contains(errOut, "using the embedded default configuration") {
		t.Errorf("track without a daemon: exit %d, stderr %s", code, errOut)
	}
	// A named socket nobody answers on: said so, then the file named.
	_, errOut, code = umbraIn(t, elsewhere, nil, "--socket", filepath.Join(elsewhere, "none.sock"), "-c", cfgPath, "route", "explain", "a@example.org")
	if code != 0 || !strings.Contains(errOut, "no daemon answers on") || !strings.Contains(errOut, cfgPath) {
		t.Errorf("route explain with a dead socket: exit %d, stderr %s", code, errOut)
	}
}
