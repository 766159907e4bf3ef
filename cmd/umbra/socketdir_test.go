package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt25c F7): a socket path that names a directory — the data
// directory, given for the socket in it — is not "umbra is not
// running" (exit 69, which sends the operator off to start a second
// daemon): the command says the path is a directory and names the
// socket in it to give instead, exit 64, by --socket and UMBRA_SOCKET.
func TestSocketPathThatIsADirectoryIsSaid(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	data := filepath.Join(dir, "data")
	sock := filepath.Join(data, "admin.sock")
	for _, how := range []string{"flag", "env"} {
		cmd := exec.Command(umbraBin, "queue", "list")
		if how == "flag" {
			cmd = exec.Command(umbraBin, "--socket", data, "queue", "list")
		} else {
			cmd.Env = append(os.Environ(), "UMBRA_SOCKET="+data)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != exitUsage || strings.Contains(string(out), "not running") || !strings.Contains(string(out), "is a directory") ||
			!strings.Contains(string(out), sock) {
			t.Errorf("socket %s by %s: exit %d %q; want exit %d, a directory, and the socket %s in it", data, how, code, out, exitUsage, sock)
		}
	}
}
