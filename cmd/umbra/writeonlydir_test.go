package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"umbra/internal/admin"

	"umbra/internal/testsupport"
)

// message export -o into a directory the user may write and search
// but not list (mode 0300/1733: a drop directory) writes the file: making,
// linking and removing a file there needs no read permission, so the
// directory is held O_PATH. Run as the user nobody (testsupport.AsNonRoot).
func TestQ4ExportIntoWriteOnlyDirectory(t *testing.T) {
	if !testsupport.AsNonRoot(t, "UMBRA_PARTIAL_TARGET=x") {
		return // run as the user nobody (root reads every directory)
	}
	base := t.TempDir()
	dir := filepath.Join(base, "drop")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	body := "From: a@example.org\r\nSubject: secret\r\n\r\nthe body\r\n"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/eml") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Umbra-Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	os.Chmod(dir, 0o300) // write and search, no listing
	defer os.Chmod(dir, 0o700)
	out := filepath.Join(dir, "m.eml")
	if err := exportEMLTo(admin.NewClient(sock), "0123456789", out, io.Discard, nil); err != nil {
		t.Errorf("export -o into a write-only directory: %v", err)
	}
	os.Chmod(dir, 0o700)
	if b, err := os.ReadFile(out); err != nil || string(b) != body {
		t.Errorf("%s: %q, %v; want the message", out, b, err)
	}
}

// The same for dkim keygen --out: its key file is made in a directory
// the user may write and search but not list.
func TestOPS3KeygenIntoWriteOnlyDirectory(t *testing.T) {
	if !testsupport.AsNonRoot(t, "UMBRA_PARTIAL_TARGET=x") {
		return // run as the user nobody (root reads every directory)
	}
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := writeKeyFile(filepath.Join(dir, "example.test.s1.key"), []byte("key\n"), nil, nil); err != nil {
		t.Errorf("dkim keygen --out a write-only directory: %v", err)
	}
}
