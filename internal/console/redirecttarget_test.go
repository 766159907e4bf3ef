package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// OPS-5: a queue redirect's target typed into the console is checked
// as every next-hop address is (config.CheckHostPort, through the admin
// API the console calls): a leading zero, a sign, a port out of range,
// an empty host, a zoned IPv6 address or the unspecified address is
// refused with the check's words on the page, and nothing reaches the
// queue.
func TestConsoleRedirectTargetCheckedAsSmartHost(t *testing.T) {
	h := newHarness(t)
	_, csrf := h.login("ops", "s3cret-pass")
	if csrf == "" {
		t.Fatal("no login")
	}
	for _, bad := range []string{"relay.example:025", "relay.example:+25", "relay.example:65536", ":25", "[fe80::1%eth0]:25", "0.0.0.0:25"} {
		res, body := h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"queue"}, "op": {"redirect"}, "target": {"mx:example.net"},
			"to": {bad}, "back": {"/queues"}}, h.origin())
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("redirect to %q: %d %.200s", bad, res.StatusCode, body)
		}
		_, page := h.do("GET", res.Header.Get("Location"), nil, nil)
		if !strings.Contains(page, "redirect target") {
			t.Errorf("redirect to %q: the page does not say the target was refused", bad)
		}
	}
	if got := h.q.done(); len(got) != 0 {
		t.Fatalf("refused targets reached the queue: %q", got)
	}
}
