package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: every path serve writes — the data directory and its spool
// directory, the Maildir tree, the pickup directory, the tracking log,
// the admin socket — is refused at its setting's line when a file (not
// a directory) stands anywhere on its way, not only as its own
// directory: serve's mkdir would fail there after the start began.
// The admin socket's check looked at the socket's own directory alone
// (FILE/sub/admin.sock passed; config check had a case of its own for
// it), and the spool directory, which serve makes in data_dir, at none.
func TestOPS3EveryWrittenPathsParentsWalked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	data := filepath.Join(dir, "data")
	for _, p := range []string{file, filepath.Join(data, "run"), filepath.Join(data, "spoolfile", "spool")} {
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const conn = "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	srv := func(dataDir, more string) string {
		return "server:\n  name: mx.a.test\n  data_dir: " + dataDir + "\n" + more + conn
	}
	for _, tc := range []struct {
		name, yaml string
		line       int
		msg        string
	}{
		{"admin_socket two levels under a file", srv(data, "  admin_socket: "+file+"/sub/s.sock\n"), 4,
			"server.admin_socket " + file + "/sub/s.sock: " + file + " is not a directory (a regular file)"},
		{"relative admin_socket under a file in data_dir", srv(data, "  admin_socket: run/sub/a.sock\n"), 4,
			"server.admin_socket " + data + "/run/sub/a.sock: " + data + "/run is not a directory (a regular file)"},
		{"spool directory a file", srv(filepath.Join(data, "spoolfile"), ""), 3,
			"server.data_dir " + data + "/spoolfile: its spool directory " + data + "/spoolfile/spool is not a directory (a regular file)"},
		{"maildir three levels under a file", srv(data, "") + "mailbox:\n  maildir: " + file + "/a/b/c\n", 8,
			"mailbox.maildir " + file + "/a/b/c: " + file + " is not a directory (a regular file)"},
		{"relative tracking log under a file in data_dir", srv(data, "") + "tracking:\n  path: run/sub/t.log\n", 8,
			"tracking.path " + data + "/run/sub/t.log: " + data + "/run is not a directory (a regular file)"},
	} {
		_, err := Parse([]byte(tc.yaml), "w.yaml")
		es, ok := err.(Errors)
		if !ok || len(es) != 1 || es[0].Line != tc.line || !strings.Contains(es[0].Msg, tc.msg) {
			t.Errorf("%s: want one error at w.yaml:%d saying %s, got\n%v", tc.name, tc.line, tc.msg, err)
		}
	}
}
