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
