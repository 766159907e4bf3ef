package admin

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/jsonsafe"
)

// OPS-3: the client's own refusals name the admin socket on one line,
// in the text form (a newline as \x0a) and say so by their type, so the
// CLI writes them as they are: no daemon on the socket (the dial's
// error inside the url.Error names the socket raw), and an answer
// without umbra's error text (APIError, written as it is). Their kind
// is kept (errors.Is ErrUnavailable).
func TestOPS3ClientRefusalsNameTheSocketOnOneLine(t *testing.T) {
	dir := t.TempDir()
	check := func(what string, err error, sock string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		want := strings.ReplaceAll(sock, "\n", `\x0a`)
		if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q, want the socket named %s on one line", what, err.Error(), want)
		}
		var te *jsonsafe.TextError
		var ae *APIError
		if !errors.As(err, &te) && !errors.As(err, &ae) {
			t.Errorf("%s: %T does not say its text is in the text form", what, err)
		}
	}

	gone := filepath.Join(dir, "g\nFAKE: ok.sock")
	c := NewClient(gone)
	c.SetDatabase(filepath.Join(dir, "d\nFAKE", "queue.db"))
	_, err := c.Queues()
	check("no daemon", err, gone)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("no daemon: %v is not ErrUnavailable", err)
	}

	bare := filepath.Join(dir, "b\nFAKE: ok.sock")
	l, err := net.Listen("unix", bare)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })}
	go srv.Serve(l)
	defer srv.Close()
	_, err = NewClient(bare).Queues()
	check("a bare 404", err, bare)
}
