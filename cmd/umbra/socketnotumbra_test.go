package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runSock runs the binary with args and returns its exit code and
// combined output.
func runSock(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(umbraBin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// OPS-3 (rt33c F4): --socket naming a regular file said "umbra is not
// running (no answer on the admin socket): Get …: connection refused"
// (exit 69); naming another program's socket that answers 200 {} gave
// Go's JSON error without the socket (queue list), or a fallback that
// told the operator to name the socket they had named (db backup).
// Each says the path is not umbra's admin socket, naming it, exit 64.
func TestOPS3SocketThatIsNotUmbrasIsSaid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "regular")
	os.WriteFile(file, []byte("x"), 0o600)
	other := filepath.Join(dir, "other.sock")
	ln, err := net.Listen("unix", other)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	for _, tc := range []struct{ sock, want string }{
		{file, "is not a socket"},
		{other, "is not umbra's admin socket"},
	} {
		for _, args := range [][]string{
			{"queue", "list"},
			{"message", "list"},
			{"shadow", "list"},
			{"db", "backup", filepath.Join(dir, "b.db")},
		} {
			code, out := runSock(t, append([]string{"--socket", tc.sock}, args...)...)
			if code != exitUsage || !strings.Contains(out, tc.want) || !strings.Contains(out, tc.sock) ||
				strings.Contains(out, "not running") || strings.Contains(out, "json:") && !strings.Contains(out, "not umbra's") ||
				strings.Contains(out, "name the daemon's with --socket") {
				t.Errorf("--socket %s %v: exit %d\n%s\nwant exit %d, %q naming the socket", tc.sock, args, code, out, exitUsage, tc.want)
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "b.db")); err == nil {
		t.Errorf("db backup wrote a file from another program's socket")
	}
}

// OPS-3 (rt33c F5): with no daemon, the refusal was Go's HTTP error
// (Get "http://umbra/v1/queues": dial unix …: connect: no such file or
// directory) and did not name the transport database. Every management
// command says it in words: umbra is not running, the socket, the
// database and that no process holds it; exit 69.
func TestOPS3NotRunningIsSaidInWords(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.173:13173\"]}]\n"+
		"mailbox: {maildir: mail}\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	sock := filepath.Join(dir, "data", "admin.sock")
	db := filepath.Join(dir, "data", "queue.db")
	for _, args := range [][]string{
		{"queue", "list"},
		{"message", "list"},
		{"queue", "suspend", "x"},
		{"dumpster", "list"},
		{"shadow", "list"},
		{"db", "backup", filepath.Join(dir, "b.db")},
	} {
		code, out := runSock(t, append([]string{"--config", cfg}, args...)...)
		if code != exitUnavailable || !strings.Contains(out, "umbra is not running") || !strings.Contains(out, sock) ||
			!strings.Contains(out, db) || !strings.Contains(out, "no process holds") || strings.Contains(out, "dial unix") ||
			strings.Contains(out, "http://umbra") {
			t.Errorf("%v: exit %d\n%s\nwant exit %d, not running in words naming %s and %s", args, code, out, exitUnavailable, sock, db)
		}
	}
}
