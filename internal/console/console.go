package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/filelimit"
	"umbra/internal/httprefusal"
	"umbra/internal/shadow"
	"umbra/internal/smtp"
)

// Config is what the console needs; the daemon builds it.
type Config struct {
	// Listener is the bound TCP listener (console.listen); the console
	// wraps it in TLS with Certificate.
	Listener    net.Listener
	Certificate tls.Certificate
	// Hosts are further names the browser may use (console.hosts).
	Hosts []string
	// Credentials are the accounts that may log in (non-server ones).
	Credentials *smtp.Credentials
	// CredentialsFile, when set, is read again when it changes (checked
	// at each request), so that an account added or removed takes
	// effect without a restart — the last one removed too: a file that
	// holds no account that may log in (emptied, only comments or
	// server accounts) is taken, nobody logs in (logged at ERROR), as a
	// leaked password is revoked — once it stayed the same (size, mtime)
	// across a second look emptySettle later: a save in place truncates
	// the file before it writes it, and a request in between keeps the
	// last accounts and sessions. A session ends at its next request
	// once its account is removed or its password changed. Only a file
	// that no longer parses (an accident) leaves the last good accounts
	// in force.
	CredentialsFile string
	// CredentialsPath, when set, is the credentials file's path in
	// force, asked at each request: a reload that moves it (the
	// connector's auth.credentials_file the console's derives from)
	// has the console read the new file at once, so an account the
	// reload revoked for SMTP AUTH is not let in here. "" keeps the
	// path it has.
	CredentialsPath func() string
	// API is the admin API's handler (admin.Server.Handler).
	API http.Handler
	// Topology gives the organisation's topology as the map draws it; nil
	// or a nil result: no topology configured.
	Topology func() (*Topology, error)
	// Shadows is the shadow manager's view of the primaries it watches
	// (nil when shadow redundancy is off).
	Shadows func() []shadow.PrimaryStatus
	// Health is the record of last delivery results per next hop.
	Health *Health
	// Self is this server's name.
	Self        string
	SessionIdle time.Duration
	// HeaderTimeout is how long a request's header may take to arrive
	// (0: 10 s); a connection whose header has not ended by then is
	// closed, and the refusal logged (headerwatch.go).
	HeaderTimeout time.Duration
	Clock         clock.Clock
	Log           *slog.Logger
}

// Server is the running console.
type Server struct {
	cfg   Config
	http  *http.Server
	hosts map[string]bool
	watch *headerWatch // requests whose header never ended (headerwatch.go)

	mu        sync.Mutex
	creds     *smtp.Credentials
	credsPath string
	// credsVer is the file's version the accounts were read of (its
	// identity, stat and content digest: filelimit.Version).
	credsVer filelimit.Version
	// emptyVer, emptyAt: a file with no login account seen (its
	// version, when): taken only once it stayed so a second.
	emptyVer filelimit.Version
	emptyAt  time.Time
	credsErr string // the last error reading the file, logged once
	sessions map[string]*session
	failures map[string][]time.Time // failed logins per lockKey and sourceKey
	inflight map[string]int         // logins per lockKey holding a place (reserve) and not yet ended
	checking map[string]int         // logins per source address holding one of its loginSlots
	waiting  map[string]int         // logins per source address waiting for a place (at most loginWaiters)
	ended    chan struct{}          // closed and replaced when a reserved login ends

	// checkPassword checks a login's name and password (nil: the
	// credentials file's check); tests count the checks through it.
	checkPassword func(user, pass string) (server bool, err error)
	// trusted reports whether an address is exempt from the lock-out of
	// a name (nameLockAfter): loopback, where an SSH tunnel to the host
	// ends; tests choose their own.
	trusted func(ip string) bool
}

type session struct {
	user    string
	csrf    string
	created time.Time
	seen    time.Time
	flash   string
	// stamp is the account's entry in the credentials file at login
	// (smtp.Credentials.LoginStamp), stamped whether it had one: the
	// session ends when the file no longer holds it (current).
	stamp   string
	stamped bool
}

const (
	sessionCookie = "umbra_console"
	loginCookie   = "umbra_console_login"
	// sessionMax bounds a login's life however active it is.
	sessionMax = 12 * time.Hour
	// maxSessions bounds the memory logins may take.
	maxSessions = 1024
	// Failed logins: after loginFailures in loginWindow for one account
	// from one address, further attempts at that account from there are
	// refused until the window passes. Everyone behind one address (an
	// SSH tunnel ends on loopback) is not locked out by one user's typos:
	// the address's failures, past loginFailures, only slow its answers
	// (loginDelayStep, doubling, at most loginDelayMax).
	loginFailures  = 5
	loginWindow    = 5 * time.Minute
	loginDelayStep = 250 * time.Millisecond
	loginDelayMax  = 4 * time.Second
	// sourceLockAfter failed logins from one address in loginWindow,
	// whatever the names, lock the address out for every account for
	// the rest of the window: a flood of names (one guess at each of many
	// accounts) is not a fresh loginFailures tries per name.
	sourceLockAfter = 4 * loginFailures
	// loginSlots: password checks of one address at a time, whatever
	// the names; a login finding them taken waits (reserve), and past
	// loginWaiters waiting logins of the address one is refused at once.
	loginSlots   = 2
	loginWaiters = 8
	// maxFailuresKept: the newest failures a key keeps, more than the
	// lock-out (loginFailures, sourceLockAfter) and the longest delay need.
	maxFailuresKept = 4 * loginFailures
	// nameLockAfter failed logins for one account name (nameKey: typed
	// variants count together) in loginWindow, from any addresses, lock
	// the name out from every address but a trusted one (loopback): a
	// guesser spread over many addresses, each under loginFailures, gets
	// no more tries at a name than this. The lock-out ends when the
	// failures leave the window, or at once when the name logs in from a
	// trusted address (the operator, through an SSH tunnel): an attacker
	// can keep remote logins of a name refused, never the host's own.
	nameLockAfter = 4 * loginFailures
	// maxRequestURI bounds a request's URL (path and query): the
	// console's own links and filters stay far below it, and a page
	// echoes its URL into every action form (back), so a longer one is
	// refused (414, logged) rather than copied into each form.
	maxRequestURI = 4096
	// maxFormBytes bounds a POST's body (a login, an action): its
	// fields are echoed into the flash and the log, so a longer one is
	// refused (413, logged), not read.
	maxFormBytes = 64 << 10
)

// New builds the console on its listener; Serve starts it.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	if cfg.Health == nil {
		cfg.Health = NewHealth(cfg.Clock)
	}
	s := &Server{cfg: cfg, creds: cfg.Credentials, sessions: map[string]*session{}, failures: map[string][]time.Time{},
		inflight: map[string]int{}, checking: map[string]int{}, waiting: map[string]int{}, ended: make(chan struct{}), hosts: map[string]bool{},
		trusted: loopback}
	// No version of the file is kept here: the accounts were parsed
	// before (cfg.Credentials), and a version read now could describe
	// content changed since, never parsed — every later look would find
	// it the same and keep the accounts of before. The first request
	// reads and parses the file (credsVer zero: it differs).
	s.credsPath = cfg.CredentialsFile
	addr := cfg.Listener.Addr().String()
	s.hosts[strings.ToLower(addr)] = true
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			// localhost in either spelling (mailaddr.IsLocalhost): a
			// browser sends the final dot as typed.
			s.hosts["localhost:"+port], s.hosts["localhost.:"+port] = true, true
		}
	}
	for _, h := range cfg.Hosts {
		s.hosts[strings.ToLower(h)] = true
	}
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: cfg.HeaderTimeout,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug)}
	s.watch = &headerWatch{log: cfg.Log, timeout: cfg.HeaderTimeout, pace: httprefusal.NewPace(headerTimeoutLogEvery, cfg.Clock),
		own: httprefusal.New("console", cfg.Log, cfg.Clock)}
	s.http.ConnState = s.watch.state
	return s
}

// Addr is the console's listening address.
func (s *Server) Addr() net.Addr { return s.cfg.Listener.Addr() }

// Serve answers requests until Shutdown.
func (s *Server) Serve() {
	ln := &watchListener{Listener: tls.NewListener(s.cfg.Listener, &tls.Config{Certificates: []tls.Certificate{s.cfg.Certificate},
		MinVersion: tls.VersionTLS12}), w: s.watch}
	if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.cfg.Log.Error("console stopped", "err", err)
	}
}

// Shutdown stops the console: the requests under way may end until ctx
// ends, then their connections are closed.
func (s *Server) Shutdown(ctx context.Context) {
	if s.http.Shutdown(ctx) != nil {
		s.http.Close()
	}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// guard applies to every request: the Host must be one of the console's
// names, security headers are set, and a POST must come from the console's
// own pages.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts[strings.ToLower(r.Host)] {
			http.Error(w, "unknown host name for the console", http.StatusMisdirectedRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		if n := len(r.RequestURI); n > maxRequestURI {
			// Refused before any page or login redirect echoes it (rt39 F4).
			s.cfg.Log.Warn("console request refused: URL too long", "method", r.Method, "path", cut(r.URL.Path, 80),
				"bytes", n, "max", maxRequestURI, "client", clientIP(r))
			http.Error(w, "URL too long: the console's URLs are at most "+strconv.Itoa(maxRequestURI)+" bytes", http.StatusRequestURITooLong)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				s.cfg.Log.Warn("console request refused: cross-origin", "method", r.Method, "path", r.URL.Path,
					"origin", r.Header.Get("Origin"), "client", clientIP(r))
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			// The form read here, bounded, before any handler echoes a
			// field of it (the flash, the log, the API's refusal).
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
					s.cfg.Log.Warn("console request refused: form too large", "method", r.Method, "path", cut(r.URL.Path, 80),
						"max", maxFormBytes, "client", clientIP(r))
					http.Error(w, "form too large: the console's forms are at most "+strconv.Itoa(maxFormBytes)+" bytes", http.StatusRequestEntityTooLarge)
					return
				}
				http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether a state-changing request names the console
// itself as its origin (Origin, else Referer); one that names none is
// refused.
func sameOrigin(r *http.Request) bool {
	want := "https://" + strings.ToLower(r.Host)
	if o := r.Header.Get("Origin"); o != "" {
		return strings.ToLower(o) == want
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && strings.ToLower(u.Scheme+"://"+u.Host) == want
	}
	return false
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// current is the request's live session, or nil.
func (s *Server) current(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	now := s.cfg.Clock.Now()
	creds := s.credentials() // read again if the file changed
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sessions[c.Value]
	if se == nil {
		return nil
	}
	if now.Sub(se.seen) > s.cfg.SessionIdle || now.Sub(se.created) > sessionMax {
		delete(s.sessions, c.Value)
		return nil
	}
	// A session lives only as long as its account, as the file says now:
	// one removed, or given another password (a leaked one revoked), ends
	// at its next request (rr27 F2).
	if stamp, ok := creds.LoginStamp(se.user); se.stamped && (!ok || stamp != se.stamp) {
		delete(s.sessions, c.Value)
		s.cfg.Log.Warn("console session ended: its account was removed from the credentials file or its password changed",
			"user", se.user, "client", clientIP(r))
		return nil
	}
	se.seen = now
	return se
}

// authed wraps a page that needs a login; a POST also needs the session's
// CSRF token.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, se *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.current(r)
		if se == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, loginURL(r.URL), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			tok := r.PostFormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(tok), []byte(se.csrf)) != 1 {
				s.cfg.Log.Warn("console request refused: missing or wrong CSRF token", "user", se.user, "path", r.URL.Path,
					"client", clientIP(r))
				http.Error(w, "missing or wrong CSRF token (reload the page)", http.StatusForbidden)
				return
			}
		}
		h(w, r, se)
	}
}

// loginURL is the login page that returns to u once logged in: u whole
// if the login page's URL stays within maxRequestURI (escaping can
// triple it), else u's path, else the overview.
func loginURL(u *url.URL) string {
	for _, next := range []string{u.RequestURI(), u.EscapedPath()} {
		if l := "/login?next=" + url.QueryEscape(next); len(l) <= maxRequestURI {
			return l
		}
	}
	return "/login"
}

// cut is s cut to at most n bytes, for a log line.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lockKey is the failure count of one account from one address; a name
// counts in the form variants of it fold to (smtp.AccountKey: case,
// spaces, Unicode forms), account or not, bounded by maxSessions. The name is kept as a digest: a key's size does not
// grow with what a client types into the name field.
func lockKey(user, ip string) string {
	sum := sha256.Sum256([]byte(smtp.AccountKey(user))) // variants of a name count as one, as for nameKey
	return "user\x00" + hex.EncodeToString(sum[:16]) + "\x00" + ip
}

// sourceKey is the failure count of one address, any account.
func sourceKey(ip string) string { return "source\x00" + ip }

// nameKey is the failure count of one account name from any address, the
// name in the form the credential lookup folds variants to
// (smtp.AccountKey: case, spaces, Unicode compatibility forms), kept as
// a digest.
func nameKey(user string) string {
	sum := sha256.Sum256([]byte(smtp.AccountKey(user)))
	return "name\x00" + hex.EncodeToString(sum[:16])
}

// loopback is the default trusted address: the host itself.
func loopback(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Unmap().IsLoopback()
}

// nameLocked reports whether logins of the name behind nk are refused
// from ip now.
func (s *Server) nameLocked(nk, ip string, now time.Time) bool {
	return !s.trusted(ip) && s.recent(nk, now) >= nameLockAfter
}

// loginDelay is how long an answer to the address waits: nothing up to
// loginFailures recent failures, then loginDelayStep doubling with each
// failure more, at most loginDelayMax.
func (s *Server) loginDelay(ip string, now time.Time) time.Duration {
	n := s.recent(sourceKey(ip), now)
	if n < loginFailures {
		return 0
	}
	d := loginDelayStep
	for i := loginFailures; i < n && d < loginDelayMax; i++ {
		d *= 2
	}
	return min(d, loginDelayMax)
}

// recent is the number of a key's failures within loginWindow; older
// ones are forgotten.
func (s *Server) recent(key string, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep []time.Time
	for _, t := range s.failures[key] {
		if now.Sub(t) < loginWindow {
			keep = append(keep, t)
		}
	}
	if keep == nil {
		delete(s.failures, key)
	} else {
		s.failures[key] = keep
	}
	return len(keep)
}

// reserveWait bounds how long a login waits for the logins under way
// for its account and address to end; past it, it is answered as locked
// out.
const reserveWait = 30 * time.Second

// reserve takes a place for one login of an account from an address
// (key, a lockKey; src, the address's sourceKey; nk, the name's nameKey;
// ip, the address) before its password is checked: the failures counted
// and the logins under way together stay under loginFailures for the
// account there, under sourceLockAfter for the address and, from an
// address not trusted, under nameLockAfter for the name from all
// addresses, so logins sent at once get no more
// password checks than logins sent one by one (rt57 M2: the lock-out was
// decided on arrival, and 100 logins at once had 99 checks), whatever the
// names; and the address holds at most loginSlots checks at a time, so a
// burst under made-up names is checked a few at a time, not all at once.
// A login finding no place waits (bounded by reserveWait and the request;
// at most loginWaiters of an address wait, a further one is refused at
// once) for one to end: then the account or the address is locked out,
// or a place is free. It returns why the login is refused (the answer
// says it), or placed: a place was taken, to be ended by endLogin.
func (s *Server) reserve(ctx context.Context, key, src, nk, ip string) refusal {
	t := s.cfg.Clock.NewTimer(reserveWait)
	defer t.Stop()
	waiting := false
	defer func() {
		if waiting {
			s.mu.Lock()
			decrement(s.waiting, ip)
			s.mu.Unlock()
		}
	}()
	for {
		if r := s.lockedOut(key, src, nk, ip, s.cfg.Clock.Now()); r != placed {
			return r
		}
		s.mu.Lock()
		if len(s.failures[key])+s.inflight[key] < loginFailures && len(s.failures[src])+s.inflight[src] < sourceLockAfter &&
			(s.trusted(ip) || len(s.failures[nk])+s.inflight[nk] < nameLockAfter) && s.checking[ip] < loginSlots {
			s.inflight[key]++
			s.inflight[src]++
			s.inflight[nk]++
			s.checking[ip]++
			s.mu.Unlock()
			return placed
		}
		if !waiting {
			if s.waiting[ip] >= loginWaiters {
				s.mu.Unlock()
				return refusedBurst
			}
			s.waiting[ip]++
			waiting = true
		}
		ended := s.ended
		s.mu.Unlock()
		select {
		case <-ended:
		case <-t.C():
			return refusedBurst
		case <-ctx.Done():
			return refusedBurst
		}
	}
}

// refusal is why reserve found no place for a login, or placed.
type refusal int

const (
	placed        refusal = iota
	lockedSource          // the address, whatever the name
	lockedAccount         // the name from the address
	lockedName            // the name from every address but trusted ones
	refusedBurst          // no lock-out: the address's checks were all taken
)

// refusalAnswers are the log line and the page of each refusal. The page
// says what is locked: the address (every name), this name from this
// address (other names are still checked), or the name from every
// address. Any name's failures count, account or not, so no answer
// tells whether the name is an account.
var refusalAnswers = map[refusal]struct{ log, page string }{
	lockedSource: {"console login refused: too many failures from the address",
		"Too many failed logins from your address, whatever the name; try again in a few minutes."},
	lockedAccount: {"console login refused: too many failures for the name from the address",
		"Too many failed logins for this name from your address; it is locked out here for a few minutes (other names are not)."},
	// The name, not the address: failures from many addresses.
	lockedName: {"console login refused: account name locked out after failures from several addresses; a login from loopback lifts it",
		"Too many failed logins for this name; try again later, or log in on the server itself."},
	refusedBurst: {"console login refused: too many logins from the address at once",
		"Too many logins from your address at once; try again in a moment."},
}

// lockedOut is the lock-out a login of key, src and nk from ip meets
// now, the widest first (placed: none).
func (s *Server) lockedOut(key, src, nk, ip string, now time.Time) refusal {
	switch {
	case s.recent(src, now) >= sourceLockAfter:
		return lockedSource
	case s.recent(key, now) >= loginFailures:
		return lockedAccount
	case s.nameLocked(nk, ip, now):
		return lockedName
	}
	return placed
}

// decrement lowers m[k] by one, deleting it at zero; caller holding s.mu.
func decrement(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
	} else {
		m[k]--
	}
}

// endLogin ends a reserved login, its failure (if any) already counted,
// and wakes the logins waiting for a place.
func (s *Server) endLogin(key, src, nk, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	decrement(s.inflight, key)
	decrement(s.inflight, src)
	decrement(s.inflight, nk)
	decrement(s.checking, ip)
	close(s.ended)
	s.ended = make(chan struct{})
}

func (s *Server) failed(ip string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.failures[ip]; !ok && len(s.failures) >= maxSessions {
		s.evictLocked(now)
	}
	ts := append(s.failures[ip], now)
	if len(ts) > maxFailuresKept {
		// Only the newest count (the lock-out and the delay need no
		// more): a key's memory does not grow with a flood.
		ts = append([]time.Time(nil), ts[len(ts)-maxFailuresKept:]...)
	}
	s.failures[ip] = ts
}

// evictLocked makes room in the bounded failure table, caller holding
// s.mu: keys whose failures are all past the window go first, else the
// one with the fewest failures (the oldest last failure among them), so
// a flood of failures under made-up names cannot push the count of an
// account under attack, which holds the most, out of the table and
// undo its lock-out (a key chosen at random could be it).
func (s *Server) evictLocked(now time.Time) {
	victim, fewest := "", 0
	var oldest time.Time
	for k, ts := range s.failures {
		last := ts[len(ts)-1]
		if now.Sub(last) >= loginWindow {
			delete(s.failures, k)
			continue
		}
		if victim == "" || len(ts) < fewest || len(ts) == fewest && last.Before(oldest) {
			victim, fewest, oldest = k, len(ts), last
		}
	}
	if len(s.failures) >= maxSessions && victim != "" {
		delete(s.failures, victim)
	}
}

// login checks the form, creates a session and sets its cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("login_token"))) != 1 {
		http.Error(w, "missing or wrong login form token (reload the login page)", http.StatusForbidden)
		return
	}
	now := s.cfg.Clock.Now()
	ip := clientIP(r)
	next := safeNext(r.PostFormValue("next"))
	user := r.PostFormValue("user")
	// A source that failed often waits before any answer.
	if d := s.loginDelay(ip, now); d > 0 {
		t := s.cfg.Clock.NewTimer(d)
		select {
		case <-t.C():
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	key, src, nk := lockKey(user, ip), sourceKey(ip), nameKey(user)
	if ref := s.reserve(r.Context(), key, src, nk, ip); ref != placed {
		a := refusalAnswers[ref]
		s.cfg.Log.Warn(a.log, "client", ip)
		s.renderLogin(w, r, next, a.page, http.StatusTooManyRequests)
		return
	}
	creds := s.credentials()
	check := s.checkPassword
	if check == nil {
		check = creds.Check
	}
	server, err := check(user, r.PostFormValue("password"))
	if err != nil || server {
		s.failed(key, now)
		s.failed(src, now)
		s.failed(nk, now)
		if !s.trusted(ip) && s.recent(nk, now) == nameLockAfter {
			s.cfg.Log.Warn("console account name locked out: too many failed logins from several addresses; a login from loopback lifts it",
				"client", ip, "for", loginWindow)
		}
		s.endLogin(key, src, nk, ip) // after its failure counts: a waiting login then sees it
		// The name is logged only if it is an account: a password typed
		// into the name field must not reach the log.
		if err == nil {
			s.cfg.Log.Warn("console login refused: transport server account", "user", user, "client", ip)
		} else {
			s.cfg.Log.Warn("console login failed", "client", ip)
		}
		s.renderLogin(w, r, next, "Wrong name or password.", http.StatusUnauthorized)
		return
	}
	s.endLogin(key, src, nk, ip)
	id := randomToken()
	s.mu.Lock()
	if _, locked := s.failures[nk]; locked && len(s.failures[nk]) >= nameLockAfter {
		s.cfg.Log.Warn("console account name lock-out lifted by a login", "user", user, "client", ip)
	}
	delete(s.failures, nk) // the owner knows the password: the name's count starts again
	if len(s.sessions) >= maxSessions {
		s.pruneLocked(now)
	}
	stamp, stamped := creds.LoginStamp(user) // the accounts the password was checked against
	s.sessions[id] = &session{user: user, csrf: randomToken(), created: now, seen: now, stamp: stamp, stamped: stamped}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, Secure: true, HttpOnly: true})
	s.cfg.Log.Info("console login", "user", user, "client", ip)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// emptySettle is how long a credentials file with no login account must
// stay unchanged before it is taken as revoking every account.
const emptySettle = time.Second

// credentials are the accounts, read again if the file changed.
func (s *Server) credentials() *smtp.Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credentialsLocked()
}

// Reread has the credentials file read again now and taken if its
// content changed, whatever its stat says: the daemon calls it at each
// reload (SIGHUP), where SMTP AUTH reads its file again, so a change
// no stat shows (a copy that kept size and mtime) reaches the console
// by the same signal.
func (s *Server) Reread() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credsVer = s.credsVer.Stale()
	s.credentialsLocked()
}

// credentialsLocked is credentials with s.mu held. The file is read
// again when its stat differs from the version read last (device and
// inode of the file its path resolves to, size, mtime, ctime) or that
// version was read too soon after a change to vouch for it
// (filelimit.RacyWindow); it is taken when its content differs (a
// digest), not on its stat alone: a copy that kept the size and put
// the mtime back, a symlink swapped to another file with the same
// mtime, or two writes in one tick are seen (rt28c F2).
func (s *Server) credentialsLocked() *smtp.Credentials {
	if s.cfg.CredentialsPath != nil {
		if p := s.cfg.CredentialsPath(); p != "" && p != s.credsPath {
			s.cfg.Log.Info("console.credentials_file moved by a reload (the configuration in force names another file): "+
				"the console reads its accounts from it now", "path", p, "was", s.credsPath)
			s.credsPath, s.credsVer = p, filelimit.Version{} // read at once, taken whatever it holds
			s.emptyVer = filelimit.Version{}                 // a wait for another file's save is not this one's
		}
	}
	if s.credsPath == "" || s.credsVer.Unchanged(s.credsPath) {
		return s.creds
	}
	data, ver, err := filelimit.ReadVersion(s.credsPath, config.MaxCredentialsFileSize, "a credentials file")
	if err != nil {
		// Gone or unreadable (a rename over it, a mode changed): the
		// last accounts stay, it is looked at again at the next
		// request, and said once per error, not at every request.
		if msg := err.Error(); msg != s.credsErr {
			s.credsErr = msg
			s.cfg.Log.Error("console credentials file cannot be read; the previous accounts stay in force", "path", s.credsPath, "err", err)
		}
		return s.creds
	}
	s.credsErr = ""
	if ver.SameContent(s.credsVer) {
		s.credsVer = ver // the same accounts: only its stat moved
		return s.creds
	}
	c, err := smtp.ParseCredentials(data, s.credsPath)
	switch {
	case err != nil:
		// A file that no longer parses is an accident (a line cut
		// short while edited): the last good accounts stay.
		s.cfg.Log.Error("console credentials file not reloaded; the previous accounts stay in force", "err", err)
	case c.LoginAccounts() == 0 && time.Since(ver.ModTime()) < emptySettle &&
		(!ver.Same(s.emptyVer) || s.cfg.Clock.Now().Sub(s.emptyAt) < emptySettle):
		// Perhaps a save in place between its truncation and its write
		// (a file changed this last second): taken only once it stayed
		// the same (its version) across a second look emptySettle
		// later; until then the last accounts and the sessions stay. A
		// file emptied longer ago is taken at once, whenever the first
		// request after it comes: the wait never lets a revoked account
		// in beyond that second (the emptying's own mtime, not the
		// first look, starts it).
		if !ver.Same(s.emptyVer) {
			s.emptyVer, s.emptyAt = ver, s.cfg.Clock.Now()
		}
		return s.creds
	case c.LoginAccounts() == 0:
		// Emptied (0 bytes, only comments, only transport server
		// accounts): removing the last account is how an operator
		// revokes a leaked password (rr27 F2), so it is taken — nobody
		// logs in, and the sessions open end (current) — said loudly:
		// serve and config check refuse such a file at start.
		s.creds = c
		s.cfg.Log.Error("console credentials file holds no account that may log in (transport server accounts cannot): "+
			"nobody can log in to the web console, and the sessions open are ended; add name:bcrypt-hash lines to let an operator in",
			"path", s.credsPath)
	default:
		s.creds = c
		s.cfg.Log.Info("console credentials file reloaded", "path", s.credsPath)
	}
	s.credsVer = ver
	return s.creds
}

// pruneLocked drops expired sessions, then the oldest if still full.
func (s *Server) pruneLocked(now time.Time) {
	var oldest string
	for id, se := range s.sessions {
		if now.Sub(se.seen) > s.cfg.SessionIdle || now.Sub(se.created) > sessionMax {
			delete(s.sessions, id)
			continue
		}
		if oldest == "" || se.seen.Before(s.sessions[oldest].seen) {
			oldest = id
		}
	}
	if len(s.sessions) >= maxSessions && oldest != "" {
		delete(s.sessions, oldest)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, se *session) {
	c, _ := r.Cookie(sessionCookie)
	s.mu.Lock()
	delete(s.sessions, c.Value)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	s.cfg.Log.Info("console logout", "user", se.user)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect target on the console: a local path only.
// A control character anywhere refuses it, not only a line break: a
// browser removes tabs and line breaks from a Location before reading
// it, so "/<tab>/host" would take it to another host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "/"
	}
	return next
}

// headerTimeoutLogEvery paces the WARN of requests whose header never
// ended (headerwatch.go).
const headerTimeoutLogEvery = time.Minute
