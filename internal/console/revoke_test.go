package console

import (
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// OPS-5 (rr27 F2): removing the console's last login account from its
// credentials file — emptied, only comments, or only transport server
// accounts (the file the console shares with a receive connector's
// AUTH) — is how an operator revokes a leaked password. The console kept
// the last accounts in force then, and the removed one still logged in
// with admin rights. Such a file is taken: nobody logs in, said at
// ERROR; a session the removed account had open ends at its next
// request. Only a file that no longer parses (an accident) keeps the
// last good accounts.
func TestConsoleRemovedLastAccountCannotLogIn(t *testing.T) {
	srvHash, _ := bcrypt.GenerateFromPassword([]byte("relay-pass"), bcrypt.MinCost)
	for i, text := range []string{"hub2:" + string(srvHash) + ":server\n", "", "# nobody yet\n"} {
		h := newHarness(t)
		// A session opened before the revocation.
		if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusSeeOther {
			t.Fatalf("login before the revocation: %d", code)
		}
		os.WriteFile(h.credFile, []byte(text), 0o600)
		os.Chtimes(h.credFile, time.Now(), time.Now().Add(time.Duration(i+1)*time.Second))
		// The first look keeps the accounts (a save in place may be
		// between its truncation and its write); the second, a second
		// later with the file unchanged, takes it (emptySettle).
		h.do("GET", "/", nil, nil)
		h.s.mu.Lock()
		h.s.emptyAt = h.s.emptyAt.Add(-emptySettle)
		h.s.mu.Unlock()
		if res, _ := h.do("GET", "/", nil, nil); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("%q: the session of the removed account still serves pages: %d %s", text, res.StatusCode, res.Header.Get("Location"))
		}
		h.client.Jar, _ = cookiejar.New(nil)
		if code, _ := h.login("ops", "s3cret-pass"); code == http.StatusSeeOther {
			t.Errorf("%q: ops, removed from the credentials file, still logs in to the console", text)
		}
		if !strings.Contains(h.logs.String(), "level=ERROR") || !strings.Contains(h.logs.String(), "holds no account that may log in") {
			t.Errorf("%q: the revocation of every account is not logged at ERROR:\n%s", text, h.logs.String())
		}
	}
}

// OPS-5: a credentials file that no longer parses is an accident, not a
// revocation: the last good accounts stay in force (logged), and a
// session stays open.
func TestConsoleKeepsAccountsWhenFileBroken(t *testing.T) {
	h := newHarness(t)
	if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	old, _ := os.ReadFile(h.credFile)
	os.WriteFile(h.credFile, append(old, []byte("broken line\n")...), 0o600)
	os.Chtimes(h.credFile, time.Now(), time.Now().Add(time.Second))
	if res, _ := h.do("GET", "/", nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("the session, the file broken: %d, want the page", res.StatusCode)
	}
	h.client.Jar, _ = cookiejar.New(nil)
	if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Errorf("login with the account in force, the file broken: %d", code)
	}
}
