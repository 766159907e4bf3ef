package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"umbra/internal/queue"
)

func (f *fakeQueue) ReleaseQuarantined(ctx context.Context, id queue.ID) error {
	f.did("release " + id.String())
	return nil
}

func (f *fakeQueue) DeleteQuarantined(ctx context.Context, id queue.ID, dsn bool) error {
	if dsn {
		f.did("delete+dsn " + id.String())
	} else {
		f.did("delete " + id.String())
	}
	return nil
}

// A quarantined message's page shows the reason and offers release and
// delete (with or without a DSN), which go through the admin API's
// quarantine commands.
func TestConsoleQuarantineActions(t *testing.T) {
	h := newHarness(t)
	_, csrf := h.login("ops", "s3cret-pass")
	h.q.extra = &queue.Message{ID: 9, State: queue.Quarantined, Quarantine: "dmarc <fail>", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	_, page := h.do("GET", "/messages/"+queue.ID(9).String(), nil, nil)
	if !strings.Contains(page, "dmarc &lt;fail&gt;") || !strings.Contains(page, `data-op="release"`) ||
		!strings.Contains(page, `data-op="delete-dsn"`) || strings.Contains(page, `data-op="suspend"`) {
		t.Fatalf("quarantined message page:\n%s", page)
	}
	for op, want := range map[string]string{"release": "release ", "delete": "delete ", "delete-dsn": "delete+dsn "} {
		res, _ := h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"quarantine"}, "op": {op},
			"target": {queue.ID(9).String()}, "back": {"/messages/" + queue.ID(9).String()}}, h.origin())
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/messages?queue=quarantine" {
			t.Fatalf("%s: %d %s", op, res.StatusCode, res.Header.Get("Location"))
		}
		if got := h.q.done(); got[len(got)-1] != want+queue.ID(9).String() {
			t.Fatalf("%s reached the queue as %v", op, got)
		}
	}
	res, _ := h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"quarantine"}, "op": {"resume"},
		"target": {queue.ID(9).String()}, "back": {"/"}}, h.origin())
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown quarantine action: %d", res.StatusCode)
	}
}
