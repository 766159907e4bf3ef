package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"context"
	"log/slog"

	"umbra/internal/backpressure"
	"umbra/internal/dumpster"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// fillStrings sets every string writeJSON would write in v (exported
// fields, one element of each slice, one entry of each map, through
// pointers) to s, and returns how many it set.
func fillStrings(v reflect.Value, s string, depth int) int {
	if depth > 8 {
		return 0
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
		return 1
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem().PkgPath() == "time" {
			return 0
		}
		v.Set(reflect.New(v.Type().Elem()))
		return fillStrings(v.Elem(), s, depth+1)
	case reflect.Struct:
		if v.Type().PkgPath() == "time" {
			return 0
		}
		n := 0
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" || f.Tag.Get("text") == "as-is" {
				continue // as-is: in the answers' text form already, its producer's (TestAsIsFieldsWrittenAsTheyAre)
			}
			n += fillStrings(v.Field(i), s, depth+1)
		}
		return n
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 0
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		return fillStrings(v.Index(0), s, depth+1)
	case reflect.Map:
		k := reflect.New(v.Type().Key()).Elem()
		n := fillStrings(k, s, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		n += fillStrings(e, s, depth+1)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
		return n
	}
	return 0
}

// stringsOf collects every string of a decoded JSON value (keys too).
func stringsOf(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, e := range v {
			stringsOf(e, out)
		}
	case map[string]any:
		for k, e := range v {
			*out = append(*out, k)
			stringsOf(e, out)
		}
	}
}

// Every answer of the admin API (and so every field the CLI prints,
// with or without --json) shows a value from outside through the one
// escape rule: the byte 0xe9 reads \xe9, the text \xe9 reads \\xe9,
// the text \\xe9 reads \\\\xe9 — in every string field of every answer
// type, whether or not the value also holds an invalid byte.
func TestEveryAnswerFieldUnambiguous(t *testing.T) {
	answers := []any{
		MessageView{}, RecipientView{}, ShadowView{}, SingleCopyView{}, SpoolView{}, BulkResult{}, BulkFailed{},
		Status{}, Redelivery{}, DumpsterRemoval{}, queue.QueueInfo{}, queue.DestinationInfo{},
		queue.SingleCopy{}, queue.UnreadableBody{}, dumpster.Entry{}, dumpster.Summary{},
		tracking.Entry{}, backpressure.State{}, MailboxDB{}, map[string]string{}, map[string]any{},
	}
	for _, c := range []struct{ in, want string }{
		{"a\xe9b", `a\xe9b`},
		{`a\xe9b`, `a\\xe9b`},
		{`a\\xe9b`, `a\\\\xe9b`},
	} {
		for _, a := range answers {
			v := reflect.New(reflect.TypeOf(a)).Elem()
			n := fillStrings(v, c.in, 0)
			if n == 0 {
				if _, isMap := a.(map[string]any); !isMap {
					t.Errorf("%T: no string field filled", a)
				}
				continue
			}
			var buf bytes.Buffer
			writeJSON(&buf, v.Interface())
			var back any
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatalf("%T: %v: %s", a, err, buf.Bytes())
			}
			var got []string
			stringsOf(back, &got)
			seen := 0
			for _, s := range got {
				switch {
				case s == c.want:
					seen++
				case strings.Contains(s, "xe9"):
					t.Errorf("%T with %q: a field reads %q, want %q", a, c.in, s, c.want)
				}
			}
			if seen != n {
				t.Errorf("%T with %q: %d of %d fields read %q: %s", a, c.in, seen, n, c.want, buf.Bytes())
			}
		}
	}
}

// OPS-1: a field tagged text:"as-is" (the status's reload error and
// pending, a configuration's refusal in its text form already) is
// written as it is: escaped again, the loader's "a\x00b" read
// "a\\x00b".
func TestAsIsFieldsWrittenAsTheyAre(t *testing.T) {
	st := Status{Reload: &ReloadState{Result: "failed", Error: `banner "a\x00b"`, Pending: []string{`refused: "a\x00b"`}}}
	var buf bytes.Buffer
	writeJSON(&buf, st)
	var back Status
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Reload.Error != st.Reload.Error || back.Reload.Pending[0] != st.Reload.Pending[0] {
		t.Errorf("reload state written %s; want its error and pending as they are", buf.Bytes())
	}
}

// textQueue holds message 4 with the text \xe9 in each field from
// outside, message 5 with the byte.
type textQueue struct{ fakeQueue }

func (q *textQueue) Message(id queue.ID) (*queue.Message, error) {
	if id != 4 && id != 5 {
		return q.fakeQueue.Message(id)
	}
	s := `\xe9`
	if id == 5 {
		s = "\xe9"
	}
	return &queue.Message{ID: id, State: queue.Ready, From: "l" + s + "a@example.org", MessageID: "<m" + s + "@x>",
		Helo: "h" + s, LastError: "550 5.1.1 " + s, // the pending recipient's reply: the error that still applies
		Rcpts: []queue.Recipient{{Addr: "b" + s + "@example.net", LastReply: "550 5.1.1 " + s, Queue: "q" + s, NextHop: "n" + s}}}, nil
}

// The Message-ID holding the text \xe9 and the one holding the byte
// read apart in GET /v1/messages/ID (message show and its --json).
func TestAPIMessageTextEscapeApartFromByte(t *testing.T) {
	s, err := Listen(filepath.Join(t.TempDir(), "admin.sock"), &textQueue{}, nil, Status{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	get := func(id queue.ID) MessageView {
		rec := httptest.NewRecorder()
		req, _ := http.NewRequest("GET", "http://umbra/v1/messages/"+id.String(), nil)
		s.Handler().ServeHTTP(rec, req)
		var v MessageView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("%d %v %s", rec.Code, err, rec.Body.Bytes())
		}
		return v
	}
	text, byt := get(4), get(5)
	for _, c := range []struct{ name, text, byt, want string }{
		{"message_id", text.MessageID, byt.MessageID, `<m\\xe9@x>`},
		{"from", text.From, byt.From, `l\\xe9a@example.org`},
		{"last_error", text.LastError, byt.LastError, `550 5.1.1 \\xe9`},
		{"address", text.Recipients[0].Address, byt.Recipients[0].Address, `b\\xe9@example.net`},
		{"last_reply", text.Recipients[0].LastReply, byt.Recipients[0].LastReply, `550 5.1.1 \\xe9`},
		{"queue", text.Recipients[0].Queue, byt.Recipients[0].Queue, `q\\xe9`},
		{"next_hop", text.Recipients[0].NextHop, byt.Recipients[0].NextHop, `n\\xe9`},
	} {
		if c.text != c.want || c.text == c.byt || c.byt != strings.Replace(c.want, `\\`, `\`, 1) {
			t.Errorf("%s: text reads %q, byte reads %q; want %q and %q", c.name, c.text, c.byt, c.want, strings.Replace(c.want, `\\`, `\`, 1))
		}
	}
}
