package console

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/tracking"
)

// The tracking page shows an event as umbra track does: a raw byte
// \xe9, the text \xe9 as \\xe9 (escaped once: the log holds the shown
// form already), a tab as \t; and its filter fields echo what was asked
// by the same rule, never as U+FFFD, so that resubmitting the form asks
// the same again.
func TestConsoleTrackShowsAsTrack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	l, err := tracking.Open(path, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(tracking.Entry{Time: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Event: "defer", ID: "000661A1B2F49872",
		Sender: "s@example.org", Reply: "451 4.3.0 raw\xe9 text\\xe9 dbl\\\\xe9 tab\there end"})
	h := newHarnessTracking(t, l)
	h.login("ops", "s3cret-pass")
	_, body := h.do("GET", "/track?id=000661A1B2F49872", nil, nil)
	want := `451 4.3.0 raw\xe9 text\\xe9 dbl\\\\xe9 tab\there end`
	if !strings.Contains(body, want) {
		t.Errorf("track page: want %s in\n%s", want, body)
	}
	_, body = h.do("GET", "/track?sender=x%1B%E9%5Cxe9", nil, nil)
	if want := `value="x\u001b\xe9\\xe9"`; !strings.Contains(body, want) {
		t.Errorf("filter echo: want %s in\n%s", want, body)
	}
	if strings.Contains(body, `\ufffd`) {
		t.Errorf("filter echo holds U+FFFD")
	}
}

// The /messages filter fields take a value as the CLI and the pages show
// it (rt41 F11): \xe9 is the byte, \\u001b the text \u001b; the field
// echoes what was typed, so resubmitting the form asks the same again
// (a raw byte echoes as \xe9, which reads as that byte).
func TestConsoleMessagesFilterTakesValuesAsShown(t *testing.T) {
	h := newHarness(t)
	h.login("ops", "s3cret-pass")
	for _, c := range []struct{ query, from, echo string }{
		{"from=caf%5Cxe9", "caf\xe9", `value="caf\xe9"`},
		{"from=a%5C%5Cu001b", `a\u001b`, `value="a\\u001b"`},
		{"from=a%5Cu001b", "a\x1b", `value="a\u001b"`},
		{"from=caf%E9", "caf\xe9", `value="caf\xe9"`},
	} {
		_, body := h.do("GET", "/messages?"+c.query, nil, nil)
		h.q.mu.Lock()
		got := h.q.filter.From
		h.q.mu.Unlock()
		if got != c.from {
			t.Errorf("%s: filtered on %q, want %q", c.query, got, c.from)
		}
		if !strings.Contains(body, c.echo) {
			t.Errorf("%s: want the echo %s in\n%s", c.query, c.echo, body)
		}
	}
	// The tracking page's fields echo a value typed as shown as typed:
	// \xe9 asks for the byte, and asks for it again.
	_, body := h.do("GET", "/track?sender=caf%5Cxe9", nil, nil)
	if want := `value="caf\xe9"`; !strings.Contains(body, want) {
		t.Errorf("track filter echo: want %s", want)
	}
}
