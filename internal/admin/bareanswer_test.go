package admin

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// OPS-3 (rr25 F5): an answer without umbra's error text keeps Msg empty
// as the daemon sent it — route explain tells a daemon older than a
// request by its bare 404 — and its Error says what answered: the
// daemon itself (the holder of the transport database answers at the
// path: SO_PEERCRED), a release older than this command; not known to
// be the daemon, that or another program's socket. Every request's
// refusal is read so (do, the backup's, the export's).
func TestBareAnswerKeptAndExplained(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mux := http.NewServeMux() // an older daemon: none of the requests below
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	go http.Serve(ln, mux)
	db := filepath.Join(dir, "queue.db")
	lf, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	requests := map[string]func(c *Client) error{
		"GET /v1/mailboxdb": func(c *Client) error { _, _, err := c.MailboxDatabase(""); return err },
		"GET /v1/db/backup": func(c *Client) error { _, err := c.Backup(filepath.Join(t.TempDir(), "b.db")); return err },
		"GET /v1/messages/x/eml": func(c *Client) error {
			return c.Export("x", io.Discard)
		},
	}
	for req, call := range requests {
		for _, known := range []bool{false, true} {
			c := NewClient(sock)
			want := "a daemon of a release older than this command, which lacks that request, or another program's socket"
			if known {
				c.SetDatabase(db)
				want = fmt.Sprintf("the daemon on %s (pid %d) answered \"404 Not Found\" to %s without umbra's error text: it runs a release older than this command", sock, os.Getpid(), req)
			}
			err := call(c)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Msg != "" || !strings.Contains(err.Error(), want) {
				t.Errorf("%s (the daemon known: %v): %#v %v, want Msg \"\" and %q", req, known, err, err, want)
			}
		}
	}
}
