package console

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// browser is one login form, from a local address of its own.
type browser struct {
	c   *http.Client
	tok string
}

func newBrowser(t *testing.T, h *harness, from string) browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(h.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return browser{c, hidden(string(page), "login_token")}
}

func (b browser) post(t *testing.T, h *harness, user, pass string) int {
	req, _ := http.NewRequest("POST", h.base+"/login", strings.NewReader(url.Values{"login_token": {b.tok}, "user": {user},
		"password": {pass}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.base)
	res, err := b.c.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// A flood of names from one address, sent in bursts, is not a fresh
// five tries per name (SMTP-8): the address is locked out for every account after
// sourceLockAfter failures (reserved before the check, so concurrency
// does not pass it), and another address is not affected.
func TestConsoleLockoutHoldsAgainstFloodOfNames(t *testing.T) {
	h := newHarness(t)
	const n = 3 * sourceLockAfter
	browsers := make([]browser, n)
	for i := range browsers {
		browsers[i] = newBrowser(t, h, "127.0.0.5")
	}
	right := newBrowser(t, h, "127.0.0.5")
	codes := make([]int, n)
	// In bursts each as large as the address may have checked or waiting
	// at once (loginSlots + loginWaiters), so that the lock-out, not the
	// burst limit, is what answers the later ones.
	burst := loginSlots + loginWaiters
	for first := 0; first < n; first += burst {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := first; i < min(first+burst, n); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i] = browsers[i].post(t, h, "name-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "guess")
			}()
		}
		close(start)
		wg.Wait()
	}
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] > sourceLockAfter || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
		t.Errorf("%d names at once from one address: %v; want at most %d checked (401), the rest 429", n, count, sourceLockAfter)
	}
	if code := right.post(t, h, "ops", "s3cret-pass"); code != http.StatusTooManyRequests {
		t.Errorf("the right password from the flooding address: %d, want 429", code)
	}
	if code := newBrowser(t, h, "127.0.0.6").post(t, h, "ops", "s3cret-pass"); code != http.StatusSeeOther {
		t.Errorf("the right password from another address: %d, want a login", code)
	}
}
