package main

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: rt33c F4 is told only by an answer that does not decode.
// Another program's socket whose answer decodes (an empty JSON list)
// is taken for umbra: queue list prints an empty table, exit 0 — the
// operator reads "no queues, no messages". umbra's answers carry
// admin.AdminHeader; one taken as a result without it is refused.
func TestSocketThatAnswersAnEmptyListIsNotUmbras(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.sock")
	ln, err := net.Listen("unix", other)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	for _, args := range [][]string{{"queue", "list"}, {"message", "list"}} {
		code, out := runSock(t, append([]string{"--socket", other}, args...)...)
		if code != exitUsage || !strings.Contains(out, "is not umbra's admin socket") {
			t.Errorf("--socket %s %v: exit %d\n%s\nwant exit %d: not umbra's admin socket", other, args, code, out, exitUsage)
		}
	}
}
