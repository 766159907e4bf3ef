package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"umbra/internal/admin"
	"umbra/internal/dumpster"
	"umbra/internal/jsonsafe"
	"umbra/internal/queue"
	"umbra/internal/tracking"
)

//go:embed assets
var assets embed.FS

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"age":   age,
	"when":  when,
	"join":  strings.Join,
	"bytes": func(n int64) string { return strconv.FormatInt(n, 10) },
	"fmt1":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"dict":  act,
	// The actions the admin API carries out, so that no button is one
	// it refuses.
	"queueAct": queueActionOffered,
	"heldEach": queue.HeldEachRestoredText,
	// pathEscape: a form's target as the page posts it back (target_escaped):
	// ASCII, so the page's escaping of what a terminal or browser would act
	// on (render) leaves it the real name, not the escape shown.
	"pathEscape": url.PathEscape,
	"msgAct":     messageActionOffered,
	"field":      field,
	// shown: what the operator typed in a filter, echoed so that the
	// form asks the same again: a value that is UTF-8 as typed (it is
	// read as shown: \xe9 is the byte, \\xe9 the text), one holding a
	// byte that is not UTF-8 by the rule for bytes from outside (the
	// byte as \xNN, the text \xNN doubled), never as U+FFFD.
	"shown": shownTyped,
}).ParseFS(templateFS, "templates/*.html"))

// queueActionOffered: the admin API carries out action on the queue of
// row (queue.CheckQueueAction), and, on a shadow queue, a copy there is
// taken over — one shown shadow, its copies all held for their primary
// (a taken-over one held by message suspend aside), refuses
// retry, resume and redirect as it refuses suspend
// (queue.Manager.CheckShadowQueueAction): no button for them.
func queueActionOffered(row queue.QueueInfo, action string) bool {
	if queue.CheckQueueAction(row.Name, action) != nil {
		return false
	}
	if queue.DeliveryType(row.Name) != "shadow" || row.Status != "shadow" {
		return true // taken-over copies make it ready, retry or active
	}
	for st, n := range row.ByState {
		if st != "shadow" && n > 0 {
			return true
		}
	}
	return false
}

// shownTyped is a filter value echoed in its field (the "shown"
// template function).
func shownTyped(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return jsonsafe.TextBytes(s)
}

// field is a table cell's value with tab, newline and carriage return
// written \t, \n, \r, as the CLI's tables write them (render escapes
// the other controls).
func field(s string) string {
	if !strings.ContainsAny(s, "\t\n\r") {
		return s
	}
	return controlsEscaped.Replace(s)
}

var controlsEscaped = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`) // built once

// messageActionOffered says whether the console offers action on a
// message the operator sees in state (queue.StateView), following the
// admin API's refusals (queue.Manager's SuspendMessage, ResumeMessage,
// RetryMessage): a shadow copy is its primary's to suspend, resume or
// retry; a poison message is resumed, not suspended; only a waiting
// message (ready, retry, held) is retried; a suspended or poison one is
// resumed. Remove and export apply in every state; a quarantined
// message has the quarantine's own actions.
func messageActionOffered(state, action string) bool {
	switch action {
	case "suspend":
		return state != "shadow" && state != "poison" && state != "suspended"
	case "resume":
		return state == "suspended" || state == "poison"
	case "retry":
		return state == "ready" || state == "retry" || state == "held"
	}
	return true
}

// age prints a duration rounded for reading.
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// actArgs is one action button's form.
type actArgs struct {
	Page                             page
	CSRF, Back                       string
	Kind, Target, Op, Label, Confirm string
}

func act(p page, kind, target, op, label, confirm string) actArgs {
	return actArgs{Page: p, CSRF: p.CSRF, Back: p.Back, Kind: kind, Target: target, Op: op, Label: label, Confirm: confirm}
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string
	User   string
	CSRF   string
	Flash  string
	Error  string
	Self   string
	Now    time.Time
	Status admin.Status
	Data   any
	Back   string
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", http.FileServerFS(assets))
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if s.current(r) != nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
		s.renderLogin(w, r, safeNext(r.URL.Query().Get("next")), "", http.StatusOK)
	})
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.authed(s.logout))
	mux.HandleFunc("GET /{$}", s.authed(s.overview))
	mux.HandleFunc("GET /queues", s.authed(s.overview))
	mux.HandleFunc("GET /messages", s.authed(s.messages))
	mux.HandleFunc("GET /messages/{id}", s.authed(s.message))
	mux.HandleFunc("GET /messages/{id}/export", s.authed(s.export))
	mux.HandleFunc("GET /shadows", s.authed(s.shadowsPage))
	mux.HandleFunc("GET /dumpster", s.authed(s.dumpsterPage))
	mux.HandleFunc("GET /track", s.authed(s.trackPage))
	mux.HandleFunc("GET /map", s.authed(s.mapPage))
	mux.HandleFunc("POST /action", s.authed(s.action))
	return s.guard(mux)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, next, msg string, code int) {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	pages.ExecuteTemplate(w, "login.html", map[string]string{"Token": tok, "Next": next, "Error": msg, "Self": s.cfg.Self})
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, se *session, name, title string, data any, err error) {
	p := page{Title: title, Nav: name, User: se.user, CSRF: se.csrf, Self: s.cfg.Self, Now: s.cfg.Clock.Now(), Data: data,
		Back: r.URL.RequestURI()}
	s.mu.Lock()
	p.Flash, se.flash = se.flash, ""
	s.mu.Unlock()
	s.call(r.Context(), "GET", "/v1/status", nil, "", &p.Status)
	if err != nil {
		p.Error = err.Error()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name+".html", p); err != nil {
		s.cfg.Log.Error("console page", "page", name, "err", err)
	}
	// What came from the network (senders, recipients, replies, EHLO
	// names) is shown with its controls, bidi and zero-width characters
	// escaped, as the CLI and the API's JSON write them.
	w.Write(jsonsafe.Escape(b.Bytes()))
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, se *session) {
	var qs []queue.QueueInfo
	_, err := s.call(r.Context(), "GET", "/v1/queues", nil, "", &qs)
	s.render(w, r, se, "queues", "Queues", qs, err)
}

type messagesData struct {
	Filter   map[string]string
	Messages []admin.MessageView
	Limit    int
	States   []string
}

const messageLimit = 500

func (s *Server) messages(w http.ResponseWriter, r *http.Request, se *session) {
	v := r.URL.Query()
	q := url.Values{}
	f := map[string]string{}
	for _, k := range []string{"queue", "from", "to", "state"} {
		if x := strings.TrimSpace(v.Get(k)); x != "" {
			q.Set(k, x)
			f[k] = x
		}
	}
	q.Set("limit", strconv.Itoa(messageLimit))
	d := messagesData{Filter: f, Limit: messageLimit, States: queue.MessageStates}
	_, err := s.call(r.Context(), "GET", "/v1/messages", q, "", &d.Messages)
	s.render(w, r, se, "messages", "Messages", d, err)
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, se *session) {
	var m admin.MessageView
	_, err := s.call(r.Context(), "GET", "/v1/messages/"+url.PathEscape(r.PathValue("id")), nil, "", &m)
	var data *admin.MessageView
	if err == nil {
		data = &m
	}
	s.render(w, r, se, "message", "Message "+r.PathValue("id"), data, err)
}

// export is the one place a message's content leaves the console: as an
// attachment the operator asked for.
func (s *Server) export(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	body, err := s.call(r.Context(), "GET", "/v1/messages/"+url.PathEscape(id)+"/eml", nil, se.user, nil)
	if err != nil {
		code := http.StatusInternalServerError
		var ae *apiError
		if errors.As(err, &ae) {
			code = ae.Code
		}
		http.Error(w, err.Error(), code)
		return
	}
	s.cfg.Log.Info("console", "user", se.user, "action", "message export", "msg_id", id)
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Disposition", `attachment; filename="`+url.PathEscape(id)+`.eml"`)
	w.Write(body)
}

func (s *Server) shadowsPage(w http.ResponseWriter, r *http.Request, se *session) {
	var vs []admin.ShadowView
	_, err := s.call(r.Context(), "GET", "/v1/shadows", nil, "", &vs)
	s.render(w, r, se, "shadows", "Shadow copies", vs, err)
}

type dumpsterData struct {
	Summaries []dumpster.Summary
	Database  string
	Entries   []dumpster.Entry
}

func (s *Server) dumpsterPage(w http.ResponseWriter, r *http.Request, se *session) {
	var d dumpsterData
	_, err := s.call(r.Context(), "GET", "/v1/dumpster", nil, "", &d.Summaries)
	if db := r.URL.Query().Get("db"); db != "" && err == nil {
		d.Database = db
		_, err = s.call(r.Context(), "GET", "/v1/dumpster/"+url.PathEscape(db), url.Values{"limit": {"200"}}, "", &d.Entries)
	}
	s.render(w, r, se, "dumpster", "Dumpster", d, err)
}

type trackData struct {
	Query   map[string]string
	Entries []tracking.Entry
	Asked   bool
	// Cut: more events match than the page shows (Limit, the newest).
	Cut   bool
	Limit int
}

// trackLimit bounds the events the tracking page shows (the newest).
const trackLimit = 500

func (s *Server) trackPage(w http.ResponseWriter, r *http.Request, se *session) {
	v := r.URL.Query()
	d := trackData{Query: map[string]string{}}
	q := url.Values{}
	for _, k := range []string{"id", "sender", "recipient"} {
		if x := strings.TrimSpace(v.Get(k)); x != "" {
			q.Set(k, x)
			d.Query[k] = x
		}
	}
	var err error
	if len(q) > 0 {
		d.Asked = true
		q.Set("limit", strconv.Itoa(trackLimit+1)) // one more tells whether the answer stops at the limit
		_, err = s.call(r.Context(), "GET", "/v1/track", q, "", &d.Entries)
		if len(d.Entries) > trackLimit {
			d.Entries, d.Cut = d.Entries[len(d.Entries)-trackLimit:], true
		}
		d.Limit = trackLimit
	}
	s.render(w, r, se, "track", "Message tracking", d, err)
}

type mapData struct {
	Topology *Topology
	Map      mapView
	Servers  []serverHealth
}

func (s *Server) mapPage(w http.ResponseWriter, r *http.Request, se *session) {
	var d mapData
	var err error
	if s.cfg.Topology != nil {
		d.Topology, err = s.cfg.Topology()
	}
	if d.Topology != nil {
		d.Servers = s.health(d.Topology)
		d.Map = layout(d.Topology, d.Servers)
	}
	s.render(w, r, se, "map", "Topology", d, err)
}

// action carries out one operator action through the admin API, then
// sends the browser back to the page it came from with the outcome.
func (s *Server) action(w http.ResponseWriter, r *http.Request, se *session) {
	kind, op, target := r.PostFormValue("kind"), r.PostFormValue("op"), r.PostFormValue("target")
	if r.PostFormValue("target_escaped") == "1" { // the pages' own forms (pathEscape)
		t, err := url.PathUnescape(target)
		if err != nil {
			http.Error(w, "bad target", http.StatusBadRequest)
			return
		}
		target = t
	}
	back := safeNext(r.PostFormValue("back"))
	var path string
	q := url.Values{}
	switch kind {
	case "queue":
		switch op {
		case "suspend", "resume", "retry":
		case "redirect":
			q.Set("to", strings.TrimSpace(r.PostFormValue("to")))
		default:
			http.Error(w, "unknown queue action", http.StatusBadRequest)
			return
		}
		path = "/v1/queues/" + url.PathEscape(target) + "/" + op
	case "message":
		switch op {
		case "suspend", "resume", "retry", "remove":
		case "remove-ndr":
			op = "remove"
			q.Set("ndr", "true")
		default:
			http.Error(w, "unknown message action", http.StatusBadRequest)
			return
		}
		path = "/v1/messages/" + url.PathEscape(target) + "/" + op
		if op == "remove" && strings.HasPrefix(back, "/messages/") {
			back = "/messages"
		}
	case "quarantine": // admin/quarantine.go
		switch op {
		case "release", "delete":
		case "delete-dsn":
			op = "delete"
			q.Set("dsn", "true")
		default:
			http.Error(w, "unknown quarantine action", http.StatusBadRequest)
			return
		}
		path = "/v1/quarantine/" + url.PathEscape(target) + "/" + op
		if strings.HasPrefix(back, "/messages/") {
			back = "/messages?queue=" + queue.QueueQuarantine
		}
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	label := kind + " " + r.PostFormValue("op")
	var out map[string]any
	h, _, err := s.callHeader(r.Context(), "POST", path, q, se.user, &out)
	stopping := h.Get(admin.StoppingHeader) != "" // the drain: no attempt starts before the next start
	flash := label + " " + target + ": done"
	if n, ok := out["rescheduled"].(float64); ok && (op == "retry" || op == "redirect" || op == "resume") {
		when := "now"
		if stopping {
			when = "at the next start"
		}
		if w := s.releasedWhen(r.Context(), out, se.user); op == "resume" && !stopping && n > 0 && w != "" {
			flash += " (" + strconv.Itoa(int(n)) + " messages released: " + w + ")"
		} else if op == "resume" && !stopping {
			// All due now: where they go still (rt28c F6).
			flash += " (" + strconv.Itoa(int(n)) + " messages due " + when + releasedTo(out) + ")"
		} else {
			flash += " (" + strconv.Itoa(int(n)) + " messages due " + when + ")"
		}
	}
	if note, ok := out["note"].(string); ok && note != "" && kind == "message" && op == "resume" {
		// A message a restore held: it may have gone already (rt47 F2).
		flash += "; " + note
	}
	if n, ok := out["held_each"].(float64); ok && n > 0 && (op == "retry" || op == "resume") {
		// Not released by the queue's action (rt36 F2).
		// Those a db restore holds are told apart (rt47 F2): not the
		// operator's hold, and a resume of them may send them twice.
		r, _ := out["held_restored"].(float64)
		flash += "; " + queue.HeldEachRestoredText(target, int(n), int(r))
	}
	if n, ok := out["shadow_held"].(float64); ok && n > 0 && (op == "retry" || op == "resume" || op == "redirect") {
		// A shadow queue's copies held for their primary: left alone.
		flash += "; " + queue.ShadowHeldText(int(n), op)
	}
	if stopping && (op == "retry" || op == "redirect" || op == "resume" || op == "release") {
		flash += "; umbra is stopping: no delivery attempt starts before it is started again"
	}
	if err != nil {
		flash = label + " " + target + " failed: " + err.Error()
	}
	s.cfg.Log.Info("console", "user", se.user, "action", label, "target", target, "ok", err == nil)
	s.mu.Lock()
	se.flash = flash
	s.mu.Unlock()
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// releasedTo is ", to DEST" (", to A (2), B (1)" for several) of the
// answer's released_to, as umbra queue resume names them; "" when the
// answer does not say.
func releasedTo(out map[string]any) string {
	rel, _ := out["released_to"].(map[string]any)
	if len(rel) == 0 {
		return ""
	}
	keys := make([]string, 0, len(rel))
	for k := range rel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 1 {
		return ", to " + keys[0]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		f, _ := rel[k].(float64)
		parts[i] = fmt.Sprintf("%s (%d)", k, int(f))
	}
	return ", to " + strings.Join(parts, ", ")
}

// releasedWhen says where the messages a queue resume released go, from
// the answer's released_to (per scheduler destination, as the daemon
// routes them now: admin.QueueResult.Released): those of a dead
// destination when its cool-down ends (a resume ends none), those held
// in another suspended queue when it is resumed, the rest now — or ""
// when all go now or the answer does not say (the flash says "due now"
// then), as umbra queue resume says it (ops27 1).
func (s *Server) releasedWhen(ctx context.Context, out map[string]any, user string) string {
	rel, _ := out["released_to"].(map[string]any)
	if len(rel) == 0 {
		return ""
	}
	var ds []queue.DestinationInfo
	if _, err := s.call(ctx, "GET", "/v1/destinations", nil, user, &ds); err != nil {
		return ""
	}
	var qs []queue.QueueInfo
	suspended := map[string]bool{}
	if _, err := s.call(ctx, "GET", "/v1/queues", nil, user, &qs); err == nil {
		for _, q := range qs {
			suspended[q.Name] = q.Status == "suspended"
		}
	}
	dead := map[string]queue.DestinationInfo{}
	for _, d := range ds {
		if d.State == "dead" && time.Until(d.DeadUntil) > 0 {
			dead[d.Name] = d
		}
	}
	keys := make([]string, 0, len(rel))
	for k := range rel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	now := 0
	nowTo := map[string]any{}
	for _, k := range keys {
		f, _ := rel[k].(float64)
		n := int(f)
		if d, ok := dead[k]; ok {
			parts = append(parts, fmt.Sprintf("%d due at %s when the cool-down of their dead destination %s ends", n,
				d.DeadUntil.Local().Format(time.TimeOnly), d.Name))
		} else if q, ok := strings.CutPrefix(k, "queue:"); ok && q != "" && suspended[q] {
			parts = append(parts, fmt.Sprintf("%d held: their route's queue %s is suspended", n, q))
		} else {
			now += n
			nowTo[k] = f
		}
	}
	if len(parts) == 0 {
		return ""
	}
	if now > 0 {
		parts = append(parts, fmt.Sprintf("%d due now%s", now, releasedTo(map[string]any{"released_to": nowTo})))
	}
	return strings.Join(parts, "; ") + " — a resume ends no cool-down"
}
