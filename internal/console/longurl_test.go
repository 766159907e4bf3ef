package console

import (
	"net/http"
	"strings"
	"testing"
)

// TestConsoleLongURLRefused (OPS-5, rt39 F4): a URL longer than the
// console's own ever are gets a 414 and a log line, logged in or not,
// on every page — never a page that echoes it into each action form's
// back field (a page of 500 messages held it thousands of times). A
// URL within the bound is served, and the login redirect of one never
// leads to a 414.
func TestConsoleLongURLRefused(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("A", maxRequestURI)
	for _, p := range []string{"/?x=", "/messages?from=", "/track?id=", "/map?x="} {
		res, _ := h.do("GET", p+long, nil, nil)
		if res.StatusCode != http.StatusRequestURITooLong {
			t.Errorf("logged out, GET %s<%d bytes>: %d, want 414", p, len(long), res.StatusCode)
		}
	}
	// Logged out, a URL within the bound whose escaping in the login
	// redirect's next= outgrows it: the redirect still leads to a page.
	amp := "/messages?from=" + strings.Repeat("%26", (maxRequestURI-20)/3)
	res, _ := h.do("GET", amp, nil, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logged out, GET a %d-byte URL: %d, want 303 to the login page", len(amp), res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if len(loc) > maxRequestURI || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("login redirect of a %d-byte URL is %d bytes long (%.60s…): over the console's bound", len(amp), len(loc), loc)
	}
	if res, _ := h.do("GET", loc, nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the login page the redirect names: %d, want 200", res.StatusCode)
	}

	if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	for _, p := range []string{"/?x=", "/messages?from=", "/track?id=", "/map?x=", "/messages/"} {
		res, body := h.do("GET", p+long, nil, nil)
		if res.StatusCode != http.StatusRequestURITooLong || !strings.Contains(body, "too long") {
			t.Errorf("logged in, GET %s<%d bytes>: %d %.80q, want 414 saying the URL is too long", p, len(long), res.StatusCode, body)
		}
	}
	if !strings.Contains(h.logs.String(), "console request refused: URL too long") {
		t.Errorf("the refusal is not logged:\n%s", h.logs.String())
	}
	// Within the bound: the page, its forms' back field the URL.
	ok := "/messages?from=" + strings.Repeat("A", maxRequestURI-len("/messages?from="))
	res, body := h.do("GET", ok, nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `name="back" value="`+ok+`"`) {
		t.Fatalf("logged in, GET a %d-byte URL: %d, want the page with its URL as each form's back", len(ok), res.StatusCode)
	}
}
