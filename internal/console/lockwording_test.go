package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// loginPage posts a login and returns the answer's status and page.
func (h *harness) loginPage(user, pass string) (int, string) {
	h.t.Helper()
	_, page := h.do("GET", "/login", nil, nil)
	res, body := h.do("POST", "/login", url.Values{"login_token": {hidden(page, "login_token")}, "user": {user},
		"password": {pass}, "next": {"/"}}, h.origin())
	return res.StatusCode, body
}

// rt16b-F6: the refusal says what is locked. Five failures for one name
// lock that name from that address, not the address: the page says so
// (other names are still checked). Twenty from the address, whatever
// the names, lock the address: the page names the address. The name's
// answer is the same whether or not it is an account (any name's
// failures count), so it discloses nothing of the accounts (SMTP-8).
func TestConsoleLockOutSaysWhatIsLocked(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"ops", "no-such-account"} {
		for i := 0; i < loginFailures; i++ {
			if code, _ := h.loginPage(name, "guess"); code != http.StatusUnauthorized {
				t.Fatalf("%s: failure %d: %d", name, i, code)
			}
		}
		code, page := h.loginPage(name, "s3cret-pass")
		if code != http.StatusTooManyRequests {
			t.Fatalf("%s: after %d failures: %d, want 429", name, loginFailures, code)
		}
		if !strings.Contains(page, "Too many failed logins for this name from your address") ||
			!strings.Contains(page, "other names are not") {
			t.Errorf("%s: the name's lock-out page says:\n%s", name, errorText(page))
		}
	}
	now := time.Now()
	for i := 0; i < sourceLockAfter; i++ {
		h.s.failed(sourceKey("127.0.0.1"), now)
	}
	code, page := h.loginPage("ops2", "other-pass")
	if code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures of the address: %d, want 429", sourceLockAfter, code)
	}
	if !strings.Contains(page, "Too many failed logins from your address, whatever the name") {
		t.Errorf("the address's lock-out page says:\n%s", errorText(page))
	}
}

// errorText is the part of a login page around its message, for a
// failure's report.
func errorText(page string) string {
	if i := strings.Index(page, "Too many"); i >= 0 {
		return page[i:min(len(page), i+200)]
	}
	return page[:min(len(page), 400)]
}
