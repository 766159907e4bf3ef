package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// OPS-3 (rr-dbfix30 F3): db backup, message export -o (and, their
// sibling, dkim keygen --out) judged FILE's
// place (not inside the spool, a Maildir tree or the pickup directory)
// by its path before the daemon was asked, and opened FILE's directory
// only once the daemon answered: a directory moved and replaced by a
// link to the Maildir tree in that window had the file written into
// the Maildir tree, where it is delivered from. The place is judged
// again on the directory held, by its device and inode.
func TestOPS3WritePlaceJudgedOnTheHeldDirectory(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"data/spool", "mail", "exports"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(base, "admin.sock")
	cfg := filepath.Join(base, "umbra.yaml")
	os.WriteFile(cfg, []byte("server: {name: mx.example.test, data_dir: data, admin_socket: "+sock+"}\n"+
		"accepted_domains: [{domain: example.test, recipient_validation: off}]\n"+
		"receive_connectors: [{name: in, bindings: [\"127.0.0.160:13160\"]}]\n"+
		"mailbox: {maildir: ../mail}\n"), 0o600)
	src, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var db bytes.Buffer
	if _, err := src.Backup(&db, nil); err != nil {
		t.Fatal(err)
	}
	src.Close()
	exports, mail := filepath.Join(base, "exports"), filepath.Join(base, "mail")
	// The exports directory moved and a link to the Maildir tree put at
	// its name after the place was judged by path, before the command
	// opens the directory (while the daemon is asked for the
	// configuration it loaded, the step between).
	swap := func() {
		if fi, err := os.Lstat(exports); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return // swapped at the command's first question already
		}
		if err := os.Rename(exports, exports+".moved"); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(mail, exports); err != nil {
			t.Error(err)
		}
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	body := "From: a@example.org\r\nSubject: secret\r\n\r\nthe body\r\n"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/config":
			swap()
			http.NotFound(w, r)
		case r.URL.Path == "/v1/db/backup":
			w.Header().Set("Content-Length", strconv.Itoa(db.Len()))
			w.Write(db.Bytes())
		case strings.HasSuffix(r.URL.Path, "/eml"):
			w.Header().Set("Umbra-Content-Length", strconv.Itoa(len(body)))
			io.WriteString(w, body)
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	for _, args := range [][]string{
		{"db", "backup", filepath.Join(exports, "b.db")},
		{"message", "export", "0123456789", "-o", filepath.Join(exports, "m.eml")},
		{"dkim", "keygen", "example.test", "s1", "--out", exports},
	} {
		out, err := exec.Command(umbraBin, append(args, "--config", cfg, "--socket", sock)...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "is inside mailbox.maildir") {
			t.Errorf("%s with its directory swapped for a link to the Maildir tree: %v\n%s\nwant exit 1, inside mailbox.maildir", args[:2], err, out)
		}
		if ents, _ := os.ReadDir(mail); len(ents) != 0 {
			t.Errorf("%s wrote %s into the Maildir tree", args[:2], ents[0].Name())
		}
		if ents, _ := os.ReadDir(exports + ".moved"); len(ents) != 0 {
			t.Errorf("%s left %s in the directory it was given", args[:2], ents[0].Name())
		}
		os.Remove(exports)
		os.Rename(exports+".moved", exports)
		for _, e := range mustReadDir(t, mail) {
			os.Remove(filepath.Join(mail, e.Name()))
		}
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}
