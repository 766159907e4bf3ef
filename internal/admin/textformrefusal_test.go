package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: a refusal whose error says by its type that its text is in the
// text form already (jsonsafe.Textf: a redirect target, a filter's
// value, each by queue.QuoteShown) is answered as it is: writeJSON's
// rule run over it again doubled the backslash of each \xNN, so a
// newline read \\x0a and the byte 0xe9 read as the text \xe9.
func TestOPS3TextFormRefusalAnsweredOnce(t *testing.T) {
	s, err := Listen(filepath.Join(t.TempDir(), "admin.sock"), &fakeQueue{}, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, c := range []struct{ method, url, want string }{
		{"POST", "/v1/queues/x/redirect?to=relay%0Aexample", `redirect target "relay\x0aexample"`},
		{"POST", "/v1/queues/x/redirect?to=relay%E9example", `redirect target "relay\xe9example"`},
		{"GET", "/v1/messages?older_than=a%0A%E9b", `"a\x0a\xe9b"`},
		{"POST", "/v1/messages/remove?older_than=a%0A%E9b", `"a\x0a\xe9b"`},
	} {
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest(c.method, "http://umbra"+c.url, nil)
		s.Handler().ServeHTTP(rec, req)
		var res struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("%s %s: %d %q", c.method, c.url, rec.Code, rec.Body.String())
		}
		if rec.Code != http.StatusBadRequest || !strings.Contains(res.Error, c.want) {
			t.Errorf("%s %s: %d %q, want 400 naming %s (escaped once)", c.method, c.url, rec.Code, res.Error, c.want)
		}
	}
}
