package console

import (
	"net/http"
	"net/http/cookiejar"
	"os"
	"testing"
	"time"
)

// OPS-5: the operator empties the credentials file to
// revoke a leaked password; the console sees no request for a while.
// The first request after — the attacker's login with the leaked
// password — is the "first look" of emptySettle: the file is kept as not
// yet settled and the last accounts, the revoked one included, let the
// attacker in, although the file has stayed empty for minutes (its
// mtime says so). README: "takes effect at once ... nobody is let in by
// this".
func TestOPS5EmptiedLongAgoLetsNoRevokedAccountIn(t *testing.T) {
	h := newHarness(t)
	os.WriteFile(h.credFile, nil, 0o600) // revoked: no account left
	long := time.Now().Add(-10 * time.Minute)
	os.Chtimes(h.credFile, long, long) // and untouched since
	h.client.Jar, _ = cookiejar.New(nil)
	if code, _ := h.login("ops", "s3cret-pass"); code == http.StatusSeeOther {
		t.Errorf("ops, removed from a credentials file emptied 10 minutes ago, logs in to the console")
	}
}
