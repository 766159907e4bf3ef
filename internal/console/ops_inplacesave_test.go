package console

import (
	"net/http"
	"os"
	"testing"
	"time"
)

// OPS-5 (reread of opsfix27): an editor or a shell redirection that
// saves the credentials file in place truncates it first (0 bytes),
// then writes it. A request that comes in between takes the emptied
// file as a revocation of every account: every open session ends, for
// a save that changed nothing.
func TestConsoleInPlaceSaveEndsNoSession(t *testing.T) {
	h := newHarness(t)
	if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	old, _ := os.ReadFile(h.credFile)
	os.Truncate(h.credFile, 0) // open(O_TRUNC) of the save
	// Dated ahead: the emptying is "this last second" however slowly
	// the request below comes (a loaded machine under -race took more
	// than the second the file's mtime gave it).
	os.Chtimes(h.credFile, time.Now(), time.Now().Add(time.Hour))
	h.do("GET", "/", nil, nil)           // a page polled meanwhile (another tab, a dashboard)
	os.WriteFile(h.credFile, old, 0o600) // the save's write: the same accounts
	os.Chtimes(h.credFile, time.Now(), time.Now().Add(2*time.Hour))
	if res, _ := h.do("GET", "/", nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("the session after a save that changed no account: %d %s, want the page", res.StatusCode, res.Header.Get("Location"))
	}
}
