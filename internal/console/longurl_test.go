package console

import (
	"net/http"
	"net/url"
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

// TestConsoleLongFormRefused (OPS-5, rt39 F4's sibling): a POST whose
// form is longer than the console's own ever are — an action's target
// or redirect target, a login's name — gets a 413 and a log line, never
// echoed into the flash, the log or the admin API's refusal.
func TestConsoleLongFormRefused(t *testing.T) {
	h := newHarness(t)
	_, csrf := h.login("ops", "s3cret-pass")
	if csrf == "" {
		t.Fatal("no login")
	}
	big := strings.Repeat("B", maxFormBytes)
	res, body := h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"queue"}, "op": {"redirect"}, "target": {"mx:example.net"},
		"to": {big}, "back": {"/"}}, h.origin())
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Fatalf("POST /action with a %d-byte field: %d %.80q, want 413", len(big), res.StatusCode, body)
	}
	if len(h.q.done()) != 0 {
		t.Errorf("the action reached the queue: %v", h.q.done())
	}
	if strings.Contains(h.logs.String(), big[:1000]) {
		t.Errorf("the field reached the log")
	}
	if !strings.Contains(h.logs.String(), "console request refused: form too large") {
		t.Errorf("the refusal is not logged:\n%s", h.logs.String())
	}
	// A form of the console's own size is taken.
	res, _ = h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"queue"}, "op": {"retry"}, "target": {"mx:example.net"}, "back": {"/"}}, h.origin())
	if res.StatusCode != http.StatusSeeOther || len(h.q.done()) != 1 {
		t.Fatalf("a small action: %d %v", res.StatusCode, h.q.done())
	}
}
