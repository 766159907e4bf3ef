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

	"umbra/internal/queue"
)

// nastyQueue is fakeQueue with a message whose network-given strings
// carry C1 controls, a bidi override and a zero-width space.
type nastyQueue struct{ fakeQueue }

const (
	nastyFrom  = "\u202emoc.knab@ceo.example"
	nastyRcpt  = "a\u009b31mb@example.net"
	nastyReply = "550 5.1.1 no\u200b such\u0085user\u2066"
	nastyHelo  = "mx\u0080.example"
)

func (q *nastyQueue) Message(id queue.ID) (*queue.Message, error) {
	if id != 2 {
		return q.fakeQueue.Message(id)
	}
	return &queue.Message{ID: 2, State: queue.Ready, From: nastyFrom, Helo: nastyHelo,
		Rcpts: []queue.Recipient{{Addr: nastyRcpt, LastReply: nastyReply}}}, nil
}

// The admin API's JSON escapes what a terminal or a browser would act on
// (C1 controls, bidirectional and zero-width format characters, DEL),
// as the CLI does: \u009b, never the raw character; the values decode
// unchanged.
func TestAPIJSONEscapesControls(t *testing.T) {
	s, err := Listen(filepath.Join(t.TempDir(), "admin.sock"), &nastyQueue{}, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, path := range []string{"/v1/messages/" + queue.ID(2).String(), "/v1/messages/" + queue.ID(2).String() + "x\u0085"} {
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest("GET", "http://umbra"+strings.ReplaceAll(path, "\u0085", "%C2%85"), nil)
		s.Handler().ServeHTTP(rec, req)
		body := rec.Body.String()
		for _, r := range []string{"\u202e", "\u009b", "\u200b", "\u0085", "\u2066", "\u0080"} {
			if strings.Contains(body, r) {
				t.Errorf("%s: the JSON carries %U raw:\n%q", path, []rune(r)[0], body)
			}
		}
		if rec.Code != http.StatusOK {
			continue
		}
		for _, esc := range []string{`\u202e`, `\u009b`, `\u200b`, `\u0085`, `\u2066`} {
			if !strings.Contains(body, esc) {
				t.Errorf("%s: the JSON lacks the escape %s:\n%s", path, esc, body)
			}
		}
		var v MessageView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.From != nastyFrom || v.Recipients[0].Address != nastyRcpt ||
			v.Recipients[0].LastReply != nastyReply {
			t.Errorf("the escaped JSON does not decode to the values: %+v %v", v, err)
		}
	}
}
