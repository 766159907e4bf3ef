package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/admin"
)

// Q-4 (rr-dbfix30 F2, the sibling of rt30c F3 in SaveBackup):
// message export -o FILE makes its temporary copy in FILE's directory
// by its path, links it to FILE and removes it by paths. A directory
// moved and replaced by a link while the daemon streams the message
// (the same swap TestOPS3BackupFollowsNoDirectorySwappedForALink makes
// for db backup) has the link fail and the removal done where the link
// leads: the copy of the message body stayed, a hidden file, in the
// directory the export worked in, and the export failed with a false
// "no such file or directory". The directory is held from the start
// (queue.CreateTempIn): the export is refused as replaced, its copy
// removed from the directory held, nothing made where the link leads.
func TestQ4ExportLeavesNoCopyWhenItsDirectoryIsSwapped(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "exports")
	os.Mkdir(dir, 0o750)
	other := filepath.Join(base, "other")
	os.Mkdir(other, 0o750)
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
		w.Header().Set("Umbra-Content-Length", "50")
		io.WriteString(w, body[:20])
		w.(http.Flusher).Flush()
		// The export's directory moved and a link put at its name
		// while the message streams.
		if err := os.Rename(dir, dir+".moved"); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(other, dir); err != nil {
			t.Error(err)
		}
		io.WriteString(w, body[20:])
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if len(body) != 50 {
		t.Fatalf("body is %d bytes", len(body))
	}
	out := filepath.Join(dir, "m.eml")
	err = exportEMLTo(admin.NewClient(sock), "0123456789", out, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Errorf("export with its directory swapped: %v, want refused as replaced", err)
	}
	ents, _ := os.ReadDir(dir + ".moved")
	for _, e := range ents {
		t.Errorf("the export left %s in the directory it worked in", e.Name())
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Errorf("the export made %s where the link leads", ents[0].Name())
	}
}
