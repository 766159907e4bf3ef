package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/admin"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/smtp"
	"umbra/internal/tracking"
)

// fakeQueue stands behind the real admin API handler and records the
// actions that reach it.
type fakeQueue struct {
	mu      sync.Mutex
	actions []string
	extra   *queue.Message      // one more message Message finds (set before requests)
	queues  []queue.QueueInfo   // more queues Queues lists (set before requests)
	filter  queue.MessageFilter // the last filter Messages was asked with
}

func (f *fakeQueue) did(a string) {
	f.mu.Lock()
	f.actions = append(f.actions, a)
	f.mu.Unlock()
}

func (f *fakeQueue) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakeQueue) Queues() ([]queue.QueueInfo, error) {
	return append([]queue.QueueInfo{{Name: "mx:example.net", Status: "retry", Count: 2},
		{Name: "mx:<script>alert(1)</script>.example", Status: "ready", Count: 1}}, f.queues...), nil
}
func (f *fakeQueue) SuspendQueue(ctx context.Context, n string) error {
	f.did("suspend " + n)
	return nil
}
func (f *fakeQueue) ResumeQueue(ctx context.Context, n string) (int, error) {
	f.did("resume " + n)
	return 3, nil
}
func (f *fakeQueue) SuspendedQueues() []string { return []string{"mx:held.example"} }
func (f *fakeQueue) RetryQueue(ctx context.Context, n string) (int, error) {
	f.did("retry " + n)
	return 2, nil
}
func (f *fakeQueue) RedirectQueue(ctx context.Context, n, to string) (int, error) {
	f.did("redirect " + n + " " + to)
	return 1, nil
}
func (f *fakeQueue) Messages(mf queue.MessageFilter) ([]*queue.Message, error) {
	f.mu.Lock()
	f.filter = mf
	f.mu.Unlock()
	return []*queue.Message{{ID: 7, State: queue.Ready, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}}, nil
}
func (f *fakeQueue) Message(id queue.ID) (*queue.Message, error) {
	if f.extra != nil && id == f.extra.ID {
		return f.extra, nil
	}
	if id == 7 {
		return &queue.Message{ID: 7, State: queue.Ready, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}, nil
	}
	return nil, queue.ErrNotFound
}
func (f *fakeQueue) BodyOf(id queue.ID) (queue.Body, error) {
	return queue.MemBody([]byte("Subject: secret\r\n\r\nthe body\r\n")), nil
}
func (f *fakeQueue) SuspendMessage(ctx context.Context, id queue.ID) error {
	f.did("suspend message " + id.String())
	return nil
}
func (f *fakeQueue) ResumeMessage(ctx context.Context, id queue.ID) error { return nil }
func (f *fakeQueue) RemoveMessage(ctx context.Context, id queue.ID, ndr bool) error {
	if ndr {
		f.did("remove+ndr " + id.String())
	} else {
		f.did("remove " + id.String())
	}
	return nil
}

type harness struct {
	t      *testing.T
	q      *fakeQueue
	s      *Server
	base   string // https://127.0.0.1:port
	client *http.Client
	logs   *strings.Builder
	// credFile is the credentials file the console reads.
	credFile string
	adm      *admin.Server // the admin API the console calls in-process
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type syncBuilder struct {
	mu sync.Mutex
	strings.Builder
}

func (b *syncBuilder) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Builder.Write(p)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessTracking(t, nil)
}

// newHarnessTracking is newHarness with a message tracking log.
func newHarnessTracking(t *testing.T, track admin.Tracker) *harness {
	t.Helper()
	return newHarnessWrapped(t, track, nil)
}

// newHarnessWrapped is newHarnessTracking with the fake queue wrapped
// (wrap: nil for none) to serve more of the admin API than it does.
func newHarnessWrapped(t *testing.T, track admin.Tracker, wrap func(*fakeQueue) admin.Queue) *harness {
	t.Helper()
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	srvHash, _ := bcrypt.GenerateFromPassword([]byte("relay-pass"), bcrypt.MinCost)
	credFile := filepath.Join(dir, "credentials")
	os.WriteFile(credFile, []byte("ops:"+string(hash)+"\nhub2:"+string(srvHash)+":server\n"), 0o600)
	creds, err := smtp.LoadCredentials(credFile)
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeQueue{}
	logs := &syncBuilder{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	var aq admin.Queue = q
	if wrap != nil {
		aq = wrap(q)
	}
	adm, err := admin.Listen(filepath.Join(dir, "admin.sock"), aq, track, admin.Status{Server: "hub1.example.org"}, log)
	if err != nil {
		t.Fatal(err)
	}
	adm.SetShadows(func() []shadow.PrimaryStatus { return nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Listener: ln, Certificate: selfSigned(t), Credentials: creds, CredentialsFile: credFile, API: adm.Handler(),
		Self: "hub1.example.org", Log: log,
		Shadows: func() []shadow.PrimaryStatus {
			return []shadow.PrimaryStatus{{Name: "hub2.example.org", Failures: 2, LastContact: time.Now().Add(-time.Minute), DatabaseID: "db-2"}}
		},
		Topology: func() (*Topology, error) {
			return &Topology{Sites: []TopoSite{{Name: "east", Hub: true}, {Name: "west"}, {Name: "north"}},
				Links: []TopoLink{{Name: "east-west", Sites: []string{"east", "west"}, Cost: 10},
					{Name: "triangle", Sites: []string{"east", "west", "north"}, Cost: 20, UmbraCost: 5}},
				Servers: []TopoServer{{Name: "hub1.example.org", Role: "hub", Site: "east", Address: "127.0.0.1:25"},
					{Name: "hub2.example.org", Role: "hub", Site: "west", Address: "127.0.0.2:25"},
					{Name: "<b>edge</b>", Role: "edge", Site: "", Address: "127.0.0.3:25"}}}, nil
		}})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	jar, _ := cookiejar.New(nil)
	// A bound for a request that never ends, not a timing: a login's
	// bcrypt under -race on two loaded cores takes seconds.
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &harness{t: t, q: q, s: s, credFile: credFile, base: "https://" + ln.Addr().String(), client: c, logs: &logs.Builder, adm: adm}
}

func (h *harness) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var hiddenRE = regexp.MustCompile(`name="(login_token|csrf)" value="([^"]+)"`)

func hidden(page, name string) string {
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

func (h *harness) origin() map[string]string { return map[string]string{"Origin": h.base} }

// login logs in and returns the CSRF token of the first page.
func (h *harness) login(user, pass string) (int, string) {
	h.t.Helper()
	_, page := h.do("GET", "/login", nil, nil)
	tok := hidden(page, "login_token")
	if tok == "" {
		h.t.Fatalf("no login token in the login page:\n%s", page)
	}
	res, _ := h.do("POST", "/login", url.Values{"login_token": {tok}, "user": {user}, "password": {pass}, "next": {"/"}}, h.origin())
	if res.StatusCode != http.StatusSeeOther {
		return res.StatusCode, ""
	}
	_, page = h.do("GET", "/", nil, nil)
	return res.StatusCode, hidden(page, "csrf")
}

func TestConsoleRequiresLogin(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/", "/messages", "/messages/7", "/messages/7/export", "/shadows", "/dumpster", "/track", "/map"} {
		res, body := h.do("GET", p, nil, nil)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("GET %s without a login: %d %s, want a redirect to /login", p, res.StatusCode, res.Header.Get("Location"))
		}
		if strings.Contains(body, "the body") {
			t.Errorf("GET %s without a login shows the message body", p)
		}
	}
	res, _ := h.do("POST", "/action", url.Values{"kind": {"queue"}, "op": {"suspend"}, "target": {"mx:example.net"}}, h.origin())
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /action without a login: %d, want 401", res.StatusCode)
	}
	if code, _ := h.login("ops", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code, _ := h.login("hub2", "relay-pass"); code != http.StatusUnauthorized {
		t.Errorf("transport server account: %d, want 401 (server accounts cannot log in)", code)
	}
	if strings.Contains(h.logs.String(), "wrong") || strings.Contains(h.logs.String(), "relay-pass") {
		t.Errorf("a password reached the log:\n%s", h.logs.String())
	}
	if len(h.q.done()) != 0 {
		t.Fatalf("actions reached the queue without a login: %v", h.q.done())
	}
	// The login form's own token is required (no login CSRF).
	res, _ = h.do("POST", "/login", url.Values{"user": {"ops"}, "password": {"s3cret-pass"}}, h.origin())
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form token: %d, want 403", res.StatusCode)
	}
	if code, csrf := h.login("ops", "s3cret-pass"); code != http.StatusSeeOther || csrf == "" {
		t.Fatalf("login: %d, csrf %q", code, csrf)
	}
	res, body := h.do("GET", "/", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(body, "mx:example.net") {
		t.Fatalf("queues page after login: %d\n%s", res.StatusCode, body)
	}
	if strings.Contains(h.logs.String(), "s3cret-pass") {
		t.Errorf("the password reached the log")
	}
}

func TestConsoleLoginThrottled(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < loginFailures; i++ {
		if code, _ := h.login("ops", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code, _ := h.login("ops", "s3cret-pass"); code != http.StatusTooManyRequests {
		t.Fatalf("login after %d failures: %d, want 429 even with the right password", loginFailures, code)
	}
	// Another operator behind the same address (an SSH tunnel ends on
	// loopback) still logs in: the lockout is per account and address.
	old, _ := os.ReadFile(h.credFile)
	hash, _ := bcrypt.GenerateFromPassword([]byte("other-pass"), bcrypt.MinCost)
	os.WriteFile(h.credFile, append(old, []byte("ops2:"+string(hash)+"\n")...), 0o600)
	if code, _ := h.login("ops2", "other-pass"); code != http.StatusSeeOther {
		t.Fatalf("another account from the same address: %d, want a login", code)
	}
	// The address's failures slow its answers.
	if d := h.s.loginDelay("127.0.0.1", time.Now()); d != loginDelayStep {
		t.Errorf("delay after %d failures of the address: %v, want %v", loginFailures, d, loginDelayStep)
	}
}

func TestConsoleCSRF(t *testing.T) {
	h := newHarness(t)
	_, csrf := h.login("ops", "s3cret-pass")
	act := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "kind": {"queue"}, "op": {"suspend"}, "target": {"mx:example.net"}, "back": {"/"}}
	}
	for _, tok := range []string{"", "forged", csrf + "x"} {
		res, _ := h.do("POST", "/action", act(tok), h.origin())
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("action with CSRF token %q: %d, want 403", tok, res.StatusCode)
		}
	}
	if len(h.q.done()) != 0 {
		t.Fatalf("an action without the right token reached the queue: %v", h.q.done())
	}
	res, _ := h.do("POST", "/action", act(csrf), h.origin())
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("action with the token: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if got := h.q.done(); len(got) != 1 || got[0] != "suspend mx:example.net" {
		t.Fatalf("queue actions: %v", got)
	}
	_, page := h.do("GET", "/", nil, nil)
	if !strings.Contains(page, "queue suspend mx:example.net: done") {
		t.Errorf("no outcome shown after the action:\n%s", page)
	}
	// Message actions go through the same API: remove with an NDR.
	res, _ = h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"message"}, "op": {"remove-ndr"}, "target": {queue.ID(7).String()},
		"back": {"//evil.example/"}}, h.origin())
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("remove: %d %s (an off-site back must become /)", res.StatusCode, res.Header.Get("Location"))
	}
	if got := h.q.done(); got[len(got)-1] != "remove+ndr "+queue.ID(7).String() {
		t.Fatalf("queue actions: %v", got)
	}
	if !strings.Contains(h.logs.String(), "user=ops") {
		t.Errorf("the action's log line does not name the user:\n%s", h.logs.String())
	}
	// After logout the token is worthless.
	h.do("POST", "/logout", url.Values{"csrf": {csrf}}, h.origin())
	res, _ = h.do("POST", "/action", act(csrf), h.origin())
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("action after logout: %d, want 401", res.StatusCode)
	}
}

func TestConsoleHostAndOrigin(t *testing.T) {
	h := newHarness(t)
	_, csrf := h.login("ops", "s3cret-pass")
	// DNS rebinding: a foreign name in Host is refused, logged in or not.
	for _, host := range []string{"evil.example", "evil.example:" + strings.Split(h.base, ":")[2]} {
		res, _ := h.do("GET", "/", nil, map[string]string{"Host": host})
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d, want 421", host, res.StatusCode)
		}
	}
	port := strings.Split(h.base, ":")[2]
	// (The cookie is the 127.0.0.1 name's: under localhost the login page.)
	if res, _ := h.do("GET", "/login", nil, map[string]string{"Host": "localhost:" + port}); res.StatusCode != 200 {
		t.Errorf("Host localhost:%s on a loopback console: %d, want 200", port, res.StatusCode)
	}
	form := url.Values{"csrf": {csrf}, "kind": {"queue"}, "op": {"retry"}, "target": {"mx:example.net"}, "back": {"/"}}
	for name, hdr := range map[string]map[string]string{
		"foreign origin":       {"Origin": "https://evil.example"},
		"http origin":          {"Origin": "http://" + strings.TrimPrefix(h.base, "https://")},
		"null origin":          {"Origin": "null"},
		"no origin or referer": {},
		"foreign referer":      {"Referer": "https://evil.example/x"},
	} {
		res, _ := h.do("POST", "/action", form, hdr)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, res.StatusCode)
		}
	}
	if len(h.q.done()) != 0 {
		t.Fatalf("a cross-origin action reached the queue: %v", h.q.done())
	}
	res, _ := h.do("POST", "/action", form, map[string]string{"Referer": h.base + "/"})
	if res.StatusCode != http.StatusSeeOther || len(h.q.done()) != 1 {
		t.Fatalf("same-origin Referer: %d, actions %v", res.StatusCode, h.q.done())
	}
	res, _ = h.do("GET", "/", nil, nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
}

func TestConsolePagesEscapeAndKeepBodies(t *testing.T) {
	h := newHarness(t)
	h.login("ops", "s3cret-pass")
	_, page := h.do("GET", "/", nil, nil)
	if strings.Contains(page, "<script>alert(1)") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("a queue name is not escaped")
	}
	for _, p := range []string{"/", "/messages", "/messages/" + queue.ID(7).String(), "/shadows", "/map", "/track?sender=a"} {
		res, body := h.do("GET", p, nil, nil)
		if p == "/track?sender=a" {
			if res.StatusCode != 200 || !strings.Contains(body, "tracking log is disabled") {
				t.Errorf("track without a tracking log: %d", res.StatusCode)
			}
		} else if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
		if strings.Contains(body, "the body") || strings.Contains(body, "Subject: secret") {
			t.Errorf("GET %s shows the message body", p)
		}
	}
	res, body := h.do("GET", "/messages/"+queue.ID(7).String()+"/export", nil, nil)
	if res.StatusCode != 200 || !strings.Contains(body, "the body") || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export: %d %q %q", res.StatusCode, res.Header.Get("Content-Disposition"), body)
	}
	_, page = h.do("GET", "/map", nil, nil)
	for _, want := range []string{`data-site="east" data-hub="true"`, `data-site="west"`, `data-site="north"`, `data-site="(no site)"`,
		`data-link="east-west"`, `data-link="triangle"`, "east-west: 10", "triangle: 5 (Exchange 20)",
		`data-server="hub1.example.org" data-health="self"`, `data-server="hub2.example.org" data-health="failing"`, "2 failed", "db-2",
		`data-server="&lt;b&gt;edge&lt;/b&gt;"`} {
		if !strings.Contains(page, want) {
			t.Errorf("map lacks %s", want)
		}
	}
}

// rt18 F3: a message whose recipients wait in a suspended queue is shown
// "held", with the queue and the command that releases it — as its queue
// shows "suspended" — not "ready".
func TestConsoleShowsHeldMessage(t *testing.T) {
	h := newHarness(t)
	h.q.extra = &queue.Message{ID: 9, State: queue.Ready, From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@held.example", Queue: "mx:held.example"}}}
	h.login("ops", "s3cret-pass")
	_, page := h.do("GET", "/messages/"+queue.ID(9).String(), nil, nil)
	for _, want := range []string{`data-state="held"`, `<dd id="state">held</dd>`, "mx:held.example is suspended", "umbra queue resume mx:held.example", "<td>held</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("message page lacks %s", want)
		}
	}
	_, page = h.do("GET", "/messages/"+queue.ID(7).String(), nil, nil)
	if strings.Contains(page, "held") {
		t.Errorf("a message of a queue that is not suspended is shown held")
	}
}

func TestHealthRecordsLastResult(t *testing.T) {
	h := NewHealth(nil)
	m := &queue.Message{ID: 1}
	h.Event("defer", m, &queue.Recipient{NextHop: "hub2.example.org[127.0.0.2]:25"}, "451 4.4.1 timeout")
	h.Event("receive", m, nil, "")
	if r, ok := h.Last("HUB2.example.org"); !ok || r.Event != "defer" {
		t.Fatalf("by name: %+v %v", r, ok)
	}
	h.Event("send", m, &queue.Recipient{NextHop: "hub2.example.org[127.0.0.2]:25"}, "250 ok")
	if r, ok := h.Last("nosuch", "127.0.0.2:25"); !ok || r.Event != "send" {
		t.Fatalf("by address: %+v %v", r, ok)
	}
	if _, ok := h.Last("hub3.example.org"); ok {
		t.Fatal("a server never tried has a result")
	}
}

// An account added to the credentials file can log in without a restart;
// a file broken meanwhile leaves the accounts in force.
func TestConsoleCredentialsReread(t *testing.T) {
	h := newHarness(t)
	if code, _ := h.login("ops2", "other-pass"); code != http.StatusUnauthorized {
		t.Fatalf("unknown account: %d", code)
	}
	old, _ := os.ReadFile(h.credFile)
	hash, _ := bcrypt.GenerateFromPassword([]byte("other-pass"), bcrypt.MinCost)
	os.WriteFile(h.credFile, append(old, []byte("ops2:"+string(hash)+"\n")...), 0o600)
	if code, _ := h.login("ops2", "other-pass"); code != http.StatusSeeOther {
		t.Fatalf("account added to the file: %d, want a login", code)
	}
	os.WriteFile(h.credFile, append(old, []byte("broken line\n")...), 0o600)
	h.client.Jar, _ = cookiejar.New(nil) // logged out
	if code, _ := h.login("ops2", "other-pass"); code != http.StatusSeeOther {
		t.Fatalf("after the file broke: %d, want the previous accounts in force", code)
	}
}

// fakeTracker holds n events and answers as the tracking log does: the
// newest Limit of those that match.
type fakeTracker struct{ n int }

func (f fakeTracker) Search(q tracking.Query) ([]tracking.Entry, error) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var out []tracking.Entry
	for i := range f.n {
		out = append(out, tracking.Entry{Time: t0.Add(time.Duration(i) * time.Second), Event: "receive", ID: fmt.Sprintf("m%04d", i), Sender: "a@example.org"})
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, nil
}

// The tracking page that stops at its limit says so, and from when: a
// table that starts late must not look complete. Within the limit it
// says nothing.
func TestConsoleTrackSaysLimit(t *testing.T) {
	for _, tc := range []struct {
		n    int
		note bool
	}{{trackLimit + 20, true}, {trackLimit, false}} {
		h := newHarnessTracking(t, fakeTracker{n: tc.n})
		h.login("ops", "s3cret-pass")
		res, body := h.do("GET", "/track?sender=a", nil, nil)
		if res.StatusCode != 200 {
			t.Fatalf("track: %d", res.StatusCode)
		}
		if got := strings.Contains(body, "newest "+strconv.Itoa(trackLimit)); got != tc.note {
			t.Errorf("%d events: limit said %v, want %v", tc.n, got, tc.note)
		}
		if !strings.Contains(body, fmt.Sprintf("m%04d", tc.n-1)) || strings.Count(body, "<tr data-event") != trackLimit {
			t.Errorf("%d events: not the newest %d shown", tc.n, trackLimit)
		}
	}
}

// The console offers no action the admin API refuses: no suspension of
// a shadow queue (its copies are held per message), no queue action on
// the poison queue, the quarantine or a dumpster, and per message only
// what the API carries out in its state.
func TestConsoleOffersOnlyWhatTheAPIAllows(t *testing.T) {
	h := newHarness(t)
	h.q.queues = []queue.QueueInfo{
		{Name: "shadow:hub-b.example", DeliveryType: "shadow", Status: "ready", Count: 2},
		{Name: "poison", DeliveryType: "poison", Status: "ready", Count: 1},
		{Name: "quarantine", DeliveryType: "quarantine", Status: "held", Count: 1},
		{Name: "dumpster:DB01", DeliveryType: "dumpster", Status: "kept", Count: 1},
	}
	h.login("ops", "s3cret-pass")
	_, page := h.do("GET", "/queues", nil, nil)
	row := func(name string) string {
		i := strings.Index(page, `<tr data-queue="`+name+`"`)
		if i < 0 {
			t.Fatalf("queues page lacks %s", name)
		}
		r := page[i:]
		return r[:strings.Index(r, "</tr>")]
	}
	ops := func(html string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`data-op="([a-z-]+)"`).FindAllStringSubmatch(html, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for name, want := range map[string]string{
		"mx:example.net":       "suspend retry redirect",
		"shadow:hub-b.example": "retry redirect",
		"poison":               "", "quarantine": "", "dumpster:DB01": "",
	} {
		if got := strings.Join(ops(row(name)), " "); got != want {
			t.Errorf("queue %s offers [%s], want [%s]", name, got, want)
		}
	}
	for _, c := range []struct {
		state queue.State
		want  string
	}{
		{queue.Ready, "suspend retry remove remove-ndr export"},
		{queue.Suspended, "resume remove remove-ndr export"},
		{queue.Poison, "resume remove remove-ndr export"},
		{queue.Shadow, "remove remove-ndr export"},
		{queue.Active, "suspend remove remove-ndr export"},
	} {
		h.q.extra = &queue.Message{ID: 11, State: c.state, From: "a@example.org", Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
		_, page := h.do("GET", "/messages/"+queue.ID(11).String(), nil, nil)
		i := strings.Index(page, `<p class="actions">`)
		if i < 0 {
			t.Fatalf("%s: message page has no actions", c.state)
		}
		acts := page[i:]
		acts = acts[:strings.Index(acts, "</p>")]
		if got := strings.Join(ops(acts), " "); got != c.want {
			t.Errorf("a %s message offers [%s], want [%s]", c.state, got, c.want)
		}
	}
}

// Strings from the network reach the pages escaped as the CLI and the
// API's JSON write them (\u202e), not as characters the browser obeys:
// a bidi override in a sender, a C1 control in a recipient, a zero-width
// space in a reply.
func TestConsoleEscapesControls(t *testing.T) {
	h := newHarness(t)
	h.q.extra = &queue.Message{ID: 12, State: queue.Ready, From: "\u202emoc.knab@ceo.example",
		Rcpts: []queue.Recipient{{Addr: "a\u009bb@example.net", LastReply: "550 no\u200b such\u0085user"}}}
	h.login("ops", "s3cret-pass")
	_, page := h.do("GET", "/messages/"+queue.ID(12).String(), nil, nil)
	for _, r := range []string{"\u202e", "\u009b", "\u200b", "\u0085"} {
		if strings.Contains(page, r) {
			t.Errorf("the page carries %U raw", []rune(r)[0])
		}
	}
	for _, esc := range []string{`\u202emoc.knab@ceo.example`, `a\u009bb@example.net`, `550 no\u200b such\u0085user`} {
		if !strings.Contains(page, esc) {
			t.Errorf("the page lacks %s", esc)
		}
	}
}

// A queue whose name carries a character the page shows escaped (a
// zero-width space, a C1 control, a bidi override) is still acted on:
// the form posts back what names the queue, not the escape shown, and
// the action reaches the queue itself. The test posts exactly the
// fields of the page's own forms, as a browser does.
func TestConsoleActsOnQueueWithEscapedName(t *testing.T) {
	for _, name := range []string{"mx:a\u200bb.example", "mx:c\u009bd.example", "smarthost:\u202eevil", "mx:50%25+x.example"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			h := newHarness(t)
			h.q.queues = []queue.QueueInfo{{Name: name, DeliveryType: "smtp", Status: "retry", Count: 1}}
			_, csrf := h.login("ops", "s3cret-pass")
			_, page := h.do("GET", "/queues", nil, nil)
			if strings.ContainsAny(page, "\u200b\u009b\u202e") {
				t.Fatal("the page carries the character raw")
			}
			for _, op := range []string{"suspend", "retry", "redirect"} {
				form := pageForm(t, page, op, name)
				if form.Get("csrf") != csrf {
					t.Fatalf("%s form: csrf %q", op, form.Get("csrf"))
				}
				if op == "redirect" {
					form.Set("to", "127.0.0.9:25")
				}
				res, body := h.do("POST", "/action", form, h.origin())
				if res.StatusCode >= 400 {
					t.Fatalf("%s: %d %s", op, res.StatusCode, body)
				}
			}
			want := []string{"suspend " + name, "retry " + name, "redirect " + name + " 127.0.0.9:25"}
			if got := h.q.done(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("actions reaching the queue: %q, want %q", got, want)
			}
		})
	}
}

// pageForm is the fields of the form of page whose button is op, in the
// row of the last queue (the test's, after the fake's own); hidden
// fields as the browser posts them.
func pageForm(t *testing.T, page, op, name string) url.Values {
	t.Helper()
	i := strings.LastIndex(page, `<tr data-queue=`)
	if i < 0 {
		t.Fatalf("no queue row for %q", name)
	}
	row := page[i:]
	row = row[:strings.Index(row, "</tr>")]
	for _, f := range regexp.MustCompile(`(?s)<form .*?</form>`).FindAllString(row, -1) {
		if !strings.Contains(f, `data-op="`+op+`"`) {
			continue
		}
		v := url.Values{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(f, -1) {
			v.Add(m[1], html.UnescapeString(m[2]))
		}
		return v
	}
	t.Fatalf("no %s form in the row of %q:\n%s", op, name, row)
	return nil
}

// A queue retry from the console says when its messages go: now, or —
// once the daemon's stop began (the drain, when no delivery attempt
// starts) — at the next start, as the CLI says.
func TestConsoleRetrySaysNextStartDuringDrain(t *testing.T) {
	h := newHarness(t)
	const name = "mx:slow.example"
	h.q.queues = []queue.QueueInfo{{Name: name, DeliveryType: "smtp", Status: "retry", Count: 1}}
	h.login("ops", "s3cret-pass")
	retry := func() string {
		_, page := h.do("GET", "/queues", nil, nil)
		res, body := h.do("POST", "/action", pageForm(t, page, "retry", name), h.origin())
		if res.StatusCode >= 400 {
			t.Fatalf("retry: %d %s", res.StatusCode, body)
		}
		_, page = h.do("GET", res.Header.Get("Location"), nil, nil)
		return page
	}
	if page := retry(); !strings.Contains(page, "messages due now)") {
		t.Fatalf("retry before the stop: no \"due now\" in the page:\n%s", page)
	}
	h.adm.SetStopping()
	page := retry()
	if strings.Contains(page, "due now") || !strings.Contains(page, "messages due at the next start)") || !strings.Contains(page, "umbra is stopping") {
		t.Fatalf("retry during the drain: want the next start, not now:\n%s", page)
	}
}

// deadDestQueue is fakeQueue with the scheduler's destinations: one
// dead until a time to come.
type deadDestQueue struct {
	*fakeQueue
	until time.Time
}

func (d deadDestQueue) Destinations() []queue.DestinationInfo {
	return []queue.DestinationInfo{{Name: "connector:relay", Queue: "smarthost:relay", State: "dead", DeadUntil: d.until},
		{Name: "connector:out/example.net", Queue: "mx:example.net", State: "idle"}}
}

// Q-4 (ops27 1): the flash of a queue resume says where the released
// messages go, from the answer's released_to, as umbra queue resume
// does: those of a dead destination when its cool-down ends, with the
// time, the rest now — not "due now" for all.
func TestConsoleResumeFlashSaysWhereReleasedMailGoes(t *testing.T) {
	until := time.Now().Add(time.Hour)
	q := deadDestQueue{&fakeQueue{}, until}
	log := slog.New(slog.DiscardHandler)
	adm, err := admin.Listen(filepath.Join(t.TempDir(), "admin.sock"), q, nil, admin.Status{Server: "hub1.example.org"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New(Config{Listener: ln, API: adm.Handler(), Log: log})
	got := s.releasedWhen(context.Background(), map[string]any{"released_to": map[string]any{"connector:relay": 3.0, "connector:out/example.net": 2.0}}, "ops")
	for _, want := range []string{"3 due at " + until.Local().Format(time.TimeOnly), "connector:relay", "cool-down", "2 due now"} {
		if !strings.Contains(got, want) {
			t.Errorf("released to a dead destination and a live one: %q, want %q in it", got, want)
		}
	}
	if got := s.releasedWhen(context.Background(), map[string]any{"released_to": map[string]any{"connector:out/example.net": 2.0}}, "ops"); got != "" {
		t.Errorf("all due now: %q, want \"\" (the flash says due now)", got)
	}
}

// Q-4, OPS-5 (rt28c F6, the console's side): a resume whose messages all
// go now says where they go, as umbra queue resume does.
func TestReleasedToNamesDestinations(t *testing.T) {
	one := releasedTo(map[string]any{"released_to": map[string]any{"connector:relay": 3.0}})
	two := releasedTo(map[string]any{"released_to": map[string]any{"connector:a": 2.0, "mx:b.test": 1.0}})
	if one != ", to connector:relay" || two != ", to connector:a (2), mx:b.test (1)" || releasedTo(nil) != "" {
		t.Errorf("released to: %q, %q", one, two)
	}
}
