package console

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loginForm is one browser's login form: its own cookie and token,
// connecting from source (a loopback address).
type loginForm struct {
	c   *http.Client
	tok string
}

func newLoginForm(t *testing.T, h *harness, source string) loginForm {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(h.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return loginForm{c, hidden(string(page), "login_token")}
}

func (f loginForm) post(t *testing.T, h *harness, user, pass string) int {
	req, _ := http.NewRequest("POST", h.base+"/login", strings.NewReader(url.Values{"login_token": {f.tok}, "user": {user},
		"password": {pass}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.base)
	res, err := f.c.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// A burst of wrong passwords from one address, each under another
// name, is checked a few at a time (loginSlots per source address),
// not all at once: the per-account lock-out alone let every made-up
// name have its own five places, and the password checks of one address
// were unbounded (OPS-5).
func TestConsoleLoginSlotsPerSource(t *testing.T) {
	h := newHarness(t)
	var now, most atomic.Int32
	h.s.checkPassword = func(user, pass string) (bool, error) {
		n := now.Add(1)
		defer now.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(30 * time.Millisecond) // a password hash's time, so that checks overlap
		return h.s.credentials().Check(user, pass)
	}
	const n = 24
	forms := make([]loginForm, n)
	for i := range forms {
		forms[i] = newLoginForm(t, h, "127.0.0.1")
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = forms[i].post(t, h, "name-"+strconv.Itoa(i), "wrong")
		}()
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusUnauthorized && c != http.StatusTooManyRequests {
			t.Errorf("login %d: %d, want 401 or 429", i, c)
		}
	}
	if m := most.Load(); m > loginSlots {
		t.Errorf("%d passwords of one address checked at once, want at most %d", m, loginSlots)
	}
}

// A flood of failures under made-up names — long ones too — from one
// address takes bounded memory (names are kept as a fixed-size digest,
// and a key keeps only its newest failures), and the real user, from
// another address, still logs in at once.
func TestConsoleLoginFloodOfNamesBounded(t *testing.T) {
	h := newHarness(t)
	// 1 KiB names: a key that kept the name would hold 1 MiB over the
	// table, past the bound checked below; longer names only made the
	// race detector's pass slow (16 KiB: a minute of make test).
	long := strings.Repeat("n", 1<<10)
	now := time.Now()
	for i := 0; i < 3*maxSessions; i++ {
		h.s.failed(lockKey(long+strconv.Itoa(i), "127.0.0.9"), now)
		h.s.failed(sourceKey("127.0.0.9"), now)
	}
	h.s.mu.Lock()
	keyBytes, times := 0, 0
	for k, ts := range h.s.failures {
		keyBytes += len(k)
		times += len(ts)
	}
	keys := len(h.s.failures)
	h.s.mu.Unlock()
	if keys > maxSessions || keyBytes > maxSessions*128 || times > maxSessions+maxFailuresKept {
		t.Errorf("after %d failures under made-up names: %d keys of %d bytes, %d failure times kept", 3*maxSessions, keys, keyBytes, times)
	}
	f := newLoginForm(t, h, "127.0.0.1")
	if code := f.post(t, h, "ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Fatalf("the real user from another address after the flood: %d, want 303", code)
	}
}
