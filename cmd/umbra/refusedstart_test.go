package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt20 N1: a start serve refuses leaves the data directory untouched —
// no queue.db, no directory — whether the configuration is refused (a
// topology that does not place this server, a binding whose host is an
// IPv4 address in inet_aton's hex form, refused at its file:line) or an
// address serve is to listen on cannot be had — the admin socket too,
// when another process answers on it (rt34 F12).
func TestRefusedStartLeavesNoDatabase(t *testing.T) {
	dir := t.TempDir()
	topo := twoHubsOfOneSite(t, dir)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldSock := filepath.Join(dir, "held.sock")
	heldAdmin, err := net.Listen("unix", heldSock)
	if err != nil {
		t.Fatal(err)
	}
	defer heldAdmin.Close()
	write := func(name, body string) (cfg, data string) {
		data = filepath.Join(dir, name+"-data")
		cfg = filepath.Join(dir, name+".yaml")
		admin := ""
		if name == "adminsocket" {
			admin = ", admin_socket: " + heldSock
		}
		os.WriteFile(cfg, []byte(fmt.Sprintf("server: {name: hub1, data_dir: %s, metrics_listen: \"\"%s}\n%s", data, admin, body)), 0o600)
		return cfg, data
	}
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"wrongtopo", "topology: " + topo + "\nreceive_connectors:\n  - {name: org, bindings: [\"127.0.63.18:2525\"], remote_ranges: [\"127.0.0.0/8\"]}\n",
			exitConfig, topo + `:4: the topology puts server "hub1" at 127.0.63.17:2525`},
		{"hexbinding", "receive_connectors:\n  - name: org\n    bindings: [\"0x7f000013:2525\"]\n",
			exitConfig, `hexbinding.yaml:4: binding "0x7f000013:2525": bad host "0x7f000013"`},
		{"taken", "receive_connectors:\n  - name: org\n    bindings: [\"" + held.Addr().String() + "\"]\n",
			exitFailure, held.Addr().String()},
		{"adminsocket", "receive_connectors:\n  - name: org\n    bindings: [\"127.0.0.1:0\"]\n",
			exitFailure, "adminsocket.yaml:1: server.admin_socket " + heldSock + " is in use by another process"},
		// An address in use is reported with the configuration's other
		// refusals (an address not of this machine), not by a second
		// start (rt34 F10).
		{"takenandnothere", "receive_connectors:\n  - name: org\n    bindings: [\"192.0.2.1:2525\", \"" + held.Addr().String() + "\"]\n",
			exitConfig, "takenandnothere.yaml:4: receive_connectors[0].bindings[1] " + held.Addr().String() + ": listen tcp " + held.Addr().String() + ": bind: address already in use"},
	} {
		cfg, data := write(tc.name, tc.body)
		out, err := exec.Command(umbraBin, "serve", "--config", cfg).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: serve: %v\n%s\nwant exit %d and %s", tc.name, err, out, tc.code, tc.want)
		}
		if tc.name == "takenandnothere" && !strings.Contains(string(out), "takenandnothere.yaml:4: receive_connectors[0].bindings[0] 192.0.2.1:2525: 192.0.2.1 is not an address of this machine") {
			t.Errorf("%s: serve: the address not of this machine is not reported beside the one in use\n%s", tc.name, out)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			entries, _ := os.ReadDir(data)
			t.Errorf("%s: a refused start left the data directory %s (%v, %d entries)", tc.name, data, err, len(entries))
		}
	}
}
