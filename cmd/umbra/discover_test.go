package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
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
	// Nothing installed: the embedded default's socket.
	if got := socketOf(); got != filepath.Join("umbra-data", "admin.sock") {
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
