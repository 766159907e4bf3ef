package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// OPS-3: a killed backup's partial copy (unlocked, .FILE.partial-LPID-N,
// the size of the database) is removed by the next db backup to FILE
// before the daemon is asked (README: "the next db backup to FILE removes
// each whose writer is gone and says so"), so a backup the daemon refuses
// (a spool file unreadable without --skip-unreadable, a daemon busy or
// stopping) still removes it and says so.
func TestOPS3RefusedBackupStillRemovesStalePartial(t *testing.T) {
	base := t.TempDir()
	sock := filepath.Join(base, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/db/backup" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":"spool file of message 0123456789 unreadable: use --skip-unreadable"}`))
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	bk := filepath.Join(base, "bk")
	os.Mkdir(bk, 0o750)
	stale := filepath.Join(bk, ".b.db.partial-L999999-0123456789")
	if err := os.WriteFile(stale, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(umbraBin, "db", "backup", filepath.Join(bk, "b.db"), "--socket", sock).CombinedOutput()
	if err == nil {
		t.Fatalf("backup refused by the daemon succeeded:\n%s", out)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the partial copy of a killed backup is left by the next backup (refused by the daemon):\n%s", out)
	}
}
