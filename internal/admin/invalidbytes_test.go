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
	"unicode/utf8"

	"umbra/internal/queue"
)

// byteQueue is fakeQueue with a message whose network-given strings hold
// bytes that are not UTF-8.
type byteQueue struct{ fakeQueue }

func (q *byteQueue) Message(id queue.ID) (*queue.Message, error) {
	if id != 3 {
		return q.fakeQueue.Message(id)
	}
	return &queue.Message{ID: 3, State: queue.Ready, From: "l\xe9a@example.org", MessageID: "<\xff@x>",
		Rcpts: []queue.Recipient{{Addr: "b@example.net", LastReply: "550 5.1.1 evil \xff\xfe \uFFFD"}}}, nil
}

// A byte that is not UTF-8 cannot be a JSON value: the API writes it as
// the text \xNN (as the CLI and the daemon's log show it), never as
// U+FFFD, which would hide which byte it was and look like a character
// the sender wrote. A real U+FFFD stays itself.
func TestAPIJSONShowsInvalidBytes(t *testing.T) {
	s, err := Listen(filepath.Join(t.TempDir(), "admin.sock"), &byteQueue{}, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	rec := httptest.NewRecorder()
	req, _ := http.NewRequest("GET", "http://umbra/v1/messages/"+queue.ID(3).String(), nil)
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !utf8.Valid(rec.Body.Bytes()) {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	var v MessageView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.From != `l\xe9a@example.org` || v.MessageID != `<\xff@x>` || v.Recipients[0].LastReply != `550 5.1.1 evil \xff\xfe `+"\uFFFD" {
		t.Errorf("invalid bytes not shown as \\xNN: %+v", v)
	}
}

func TestTextBytesCopiesOnlyWhatChanges(t *testing.T) {
	type inner struct {
		A string
		B []string
		M map[string]string
		p string
	}
	orig := inner{A: "ok", B: []string{"x", "y\x9b"}, M: map[string]string{"k": "v\xc3"}, p: "\xff"}
	out := textBytes(&orig).(*inner)
	if out.A != "ok" || out.B[1] != `y\x9b` || out.M["k"] != `v\xc3` {
		t.Errorf("%+v", out)
	}
	if orig.B[1] != "y\x9b" || orig.M["k"] != "v\xc3" {
		t.Errorf("the original was changed: %+v", orig)
	}
	same := []string{"a", "b"}
	if got := textBytes(same).([]string); &got[0] != &same[0] {
		t.Error("a value without invalid bytes was copied")
	}
}

// FuzzTextBytes: the result is valid UTF-8, valid input without the
// text \x is returned as it is, and every byte that is not UTF-8 is one \xNN.
func FuzzTextBytes(f *testing.F) {
	for _, s := range []string{"", "ok", "l\xe9a", "\xff\xfe", "\xe2\x80", "é\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := TextBytes(s)
		if !utf8.ValidString(out) {
			t.Fatalf("%q -> %q: not UTF-8", s, out)
		}
		if utf8.ValidString(s) && !strings.Contains(s, `\x`) && out != s {
			t.Fatalf("%q changed to %q", s, out)
		}
		if len(out) > 4*len(s) {
			t.Fatalf("%q -> %q: longer than 4 per byte", s, out)
		}
	})
}
