package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// auditedKey marks a request whose action the audit covers: auditAs
// sets the flag it points to, so that auditRefusals knows a line was
// written for the request.
type auditedKey struct{}

// markAudited notes in r's context that its action was audited.
func markAudited(r *http.Request) {
	if p, ok := r.Context().Value(auditedKey{}).(*bool); ok {
		*p = true
	}
}

// auditRefusals wraps an action's handler so that a request it refuses
// before the action is attempted (a bad redirect target, an unknown
// queue or message id, the poison queue, an unknown action) is audited
// as an action that ended in a refusal is: a log line and an "admin"
// tracking line with the action, its target, the refusal (its status
// and words) and who asked, the web console's user included (rt24c
// F15). A request the handler audited itself is not audited twice; a
// dry run is no action and is not audited.
func (s *Server) auditRefusals(what func(r *http.Request) (action, target string), h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("dry_run") == "true" {
			h(w, r)
			return
		}
		audited := false
		r = r.WithContext(context.WithValue(r.Context(), auditedKey{}, &audited))
		rec := &refusalRecorder{ResponseWriter: w}
		h(rec, r)
		if audited || rec.code < 400 {
			return
		}
		action, target := what(r)
		text := strconv.Itoa(rec.code) + " " + http.StatusText(rec.code)
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(rec.body.String()), &body) == nil && body.Error != "" {
			text = body.Error
		}
		s.auditAs(r, action, nil, target, "refused: "+text)
	}
}

// refusalRecorder passes an answer through and keeps its status and,
// for a refusal, the start of its body (the JSON error).
type refusalRecorder struct {
	http.ResponseWriter
	code int
	body strings.Builder
}

func (w *refusalRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *refusalRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.code >= 400 && w.body.Len() < 4096 {
		w.body.Write(b[:min(len(b), 4096-w.body.Len())])
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on, for the handlers that stream.
func (w *refusalRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *refusalRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
