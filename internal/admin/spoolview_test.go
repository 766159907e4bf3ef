package admin

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// cutOnWrite cuts the spool file at path when the export writes its
// first bytes: the file shrinks while it is streamed.
type cutOnWrite struct {
	http.ResponseWriter
	path string
	done bool
}

func (c *cutOnWrite) Write(p []byte) (int, error) {
	if !c.done {
		c.done = true
		os.Truncate(c.path, 50000)
	}
	return c.ResponseWriter.Write(p)
}

// An export whose spool file is cut while it streams fails at the
// client with the daemon's reason (the error trailer), never passes a
// short content for the message; one cut before it is refused at once.
func TestExportOfSpoolFileCutWhileStreamed(t *testing.T) {
	dir := t.TempDir()
	store, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w, err := store.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789 abcdefghij\r\n"), 40000) // 920 kB
	w.Write(content)
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	path, _, _ := b.File()
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		serveExport(&cutOnWrite{ResponseWriter: rw, path: path}, b)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := NewClient(sock)

	var got bytes.Buffer
	err = c.Export("0000000000000001", &got)
	if !errors.Is(err, ErrExportIncomplete) || !strings.Contains(err.Error(), "shorter than its record") {
		t.Fatalf("export of a file cut while streamed: %v (%d of %d bytes)", err, got.Len(), len(content))
	}
	got.Reset()
	err = c.Export("0000000000000001", &got)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Msg, "unreadable") || got.Len() != 0 {
		t.Fatalf("export of a file already cut: %v, %d bytes", err, got.Len())
	}
}
