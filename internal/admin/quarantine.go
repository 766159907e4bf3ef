package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"umbra/internal/queue"
	"umbra/internal/tracking"
)

// Quarantiner is what the quarantine commands need of the queue manager
// (queue.Manager; queue/quarantine.go).
type Quarantiner interface {
	ReleaseQuarantined(ctx context.Context, id queue.ID) error
	DeleteQuarantined(ctx context.Context, id queue.ID, dsn bool) error
}

// quarantineRoutes serves umbra queue quarantine:
//
//	GET  /v1/quarantine?limit=N        the quarantined messages, oldest first
//	POST /v1/quarantine/{id}/release   schedule it for delivery
//	POST /v1/quarantine/{id}/delete    remove it (?dsn=true: with a DSN)
//
// show is GET /v1/messages/{id}, whose view carries the reason.
func (s *Server) quarantineRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/quarantine", func(w http.ResponseWriter, r *http.Request) {
		if msg := listLimitError(r.URL.Query().Get("limit")); msg != "" {
			fail(w, http.StatusBadRequest, msg)
			return
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		ms, err := s.q.Messages(queue.MessageFilter{Queue: queue.QueueQuarantine, Limit: limit})
		out := make([]MessageView, 0, len(ms))
		sv := s.stateView()
		for _, m := range ms {
			out = append(out, view(m, sv))
		}
		reply(w, out, err)
	})
	mux.HandleFunc("POST /v1/quarantine/{id}/{action}", s.auditRefusals(func(r *http.Request) (string, string) {
		return "quarantine " + r.PathValue("action"), queue.QueueQuarantine
	}, func(w http.ResponseWriter, r *http.Request) {
		id, ok := parseID(w, r)
		if !ok {
			return
		}
		qr, ok := s.q.(Quarantiner)
		if !ok {
			fail(w, http.StatusNotFound, "this server keeps no quarantine")
			return
		}
		m, _ := s.q.Message(id)
		if m == nil {
			m = &queue.Message{ID: id}
		}
		action, dsn := r.PathValue("action"), r.URL.Query().Get("dsn") == "true"
		var err error
		switch action {
		case "release":
			err = qr.ReleaseQuarantined(r.Context(), id)
		case "delete":
			err = qr.DeleteQuarantined(r.Context(), id, dsn)
			if dsn {
				action = "delete --dsn"
			}
		default:
			fail(w, http.StatusNotFound, "unknown quarantine action (release, delete)")
			return
		}
		if action == "release" && errors.Is(err, queue.ErrNotFound) && s.releasedBefore(id) {
			// Gone from the queue after an earlier release (tracking
			// knows, also across restarts): not "no such message".
			err = fmt.Errorf("%w: message %s has left the queue", queue.ErrAlreadyReleased, id)
		} else if errors.Is(err, queue.ErrNotFound) {
			// An id not here: said of the quarantine it was asked of.
			err = NoQuarantined(id.String())
		}
		if errors.Is(err, queue.ErrBusy) || errors.Is(err, queue.ErrNotQuarantined) {
			// A quarantined message is never in delivery: one that is
			// (or is in any other state) is not quarantined, and no
			// retry of the command will do. Its state as every view
			// shows it (message list, quarantine show), not the record's.
			state := "gone"
			if now, _ := s.q.Message(id); now != nil {
				state = s.stateView().State(now)
			}
			err = fmt.Errorf("%w: message %s is %s", queue.ErrNotQuarantined, id, state)
		}
		// --dsn of a message with the null sender: deleted, no DSN
		// (none goes to <>), said in the answer and the audit line as
		// message remove --ndr says it.
		noDSN := ""
		if err == nil && action == "delete --dsn" && nullSenderNDR(m, true) {
			noDSN = noDSNNullSender
			action += " (" + noDSN + ")"
		}
		s.audit(r, "quarantine "+action, m, queue.QueueQuarantine, err)
		if errors.Is(err, queue.ErrNotQuarantined) {
			// As quarantine show: no such quarantined message (exit 3).
			failErr(w, http.StatusNotFound, err)
			return
		}
		if errors.Is(err, queue.ErrAlreadyReleased) {
			// Releasing twice is done, not an error to retry.
			reply(w, map[string]string{"id": id.String(), "note": err.Error()}, nil)
			return
		}
		ans := map[string]string{"id": id.String()}
		if noDSN != "" {
			ans["no_dsn"] = noDSN
		}
		reply(w, ans, err)
	}))
}

// NoQuarantined refuses a quarantine action on id, a message not here
// at all (404, exit 3), in words about the quarantine: the API's
// actions, and umbra queue quarantine show, which reads the message
// through the API, say it in these words.
func NoQuarantined(id string) error {
	return &queue.NotFoundError{Msg: fmt.Sprintf("no quarantined message %s: no message of that id is here "+
		"(umbra queue quarantine list shows the messages held)", id)}
}

// releasedBefore reports whether the tracking log records a release
// of id from quarantine.
func (s *Server) releasedBefore(id queue.ID) bool {
	if s.track == nil {
		return false
	}
	es, _ := s.track.Search(tracking.Query{ID: id.String(), Events: []string{"release"}, Limit: 1})
	return len(es) > 0 // found in the files that could be read (a *tracking.Partial names the others)
}

// Quarantine lists the quarantined messages (limit 0: the server's
// default of 1000).
func (c *Client) Quarantine(limit int) ([]MessageView, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []MessageView
	return out, c.do("GET", "/v1/quarantine", q, &out)
}

// QuarantineAction releases or deletes (with a DSN when dsn) a
// quarantined message. note is set when there was nothing to do (the
// message was released before); noDSN when a delete --dsn sent no DSN
// (the message has the null sender).
func (c *Client) QuarantineAction(id, action string, dsn bool) (note, noDSN string, err error) {
	q := url.Values{}
	if dsn {
		q.Set("dsn", "true")
	}
	var out struct {
		Note  string `json:"note"`
		NoDSN string `json:"no_dsn"`
	}
	err = c.do("POST", "/v1/quarantine/"+url.PathEscape(id)+"/"+action, q, &out)
	return out.Note, out.NoDSN, err
}
