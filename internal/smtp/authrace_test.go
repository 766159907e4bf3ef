package smtp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
)

// gateAccounts holds every password check until want of them are under
// way at once, or a second has passed (bounded): guesses that all got
// past the lock-out check meet here, in flight together.
type gateAccounts struct {
	calls atomic.Int32
	want  int32
	once  sync.Once
	all   chan struct{}
}

func (g *gateAccounts) Authenticate(ctx context.Context, name, password string) (string, bool, bool, error) {
	if g.calls.Add(1) >= g.want {
		g.once.Do(func() { close(g.all) })
	}
	select {
	case <-g.all:
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	if name != "dave" {
		return "", false, false, nil
	}
	return "dave", password == "dave-pw", false, nil
}

func (g *gateAccounts) HasServer() bool { return false }

func throttleOf(t *testing.T, yaml string) config.AuthThrottle {
	t.Helper()
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:0\"]}]\nauth_throttle: "+yaml+"\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c.AuthThrottle
}

// rt50 M2: the lock-out holds under concurrency. 19 wrong guesses for one
// account from one address arrive at once on 19 connections, and the
// right password on a 20th while they are in flight. Before, each AUTH
// looked at the lock-out only when it started, so every guess got a real
// check and an answer (535), and the right password logged in after the
// address had been locked out. Now an attempt reserves its place before
// the password is checked: at most lockout_after (4) guesses are checked
// as failures, the rest and the right password get 454 4.7.0.
func TestAuthLockoutHoldsUnderConcurrency(t *testing.T) {
	src := &gateAccounts{want: 20, all: make(chan struct{})}
	obs := &policyObserver{}
	conns := connectors(t, fmt.Sprintf(`
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, ldap: true, allow_insecure: true}
    permissions: {authenticated: [submit]}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x", account_filter: "(uid=%%s)"}
`, credsFile(t)))
	s := startWith(t, ServerConfig{Connectors: conns, Accounts: src, Observer: obs, AuthThrottle: throttleOf(t, "{delay: 1ms, max_delay: 2ms, lockout_after: 4, lockout: 10m, window: 1h}")})
	var mu sync.Mutex
	replies := map[string]int{}
	var wg sync.WaitGroup
	try := func(pw string) {
		defer wg.Done()
		d := dial(t, s, "127.0.0.5")
		if r := d.reply(); !strings.HasPrefix(r, "220") {
			t.Errorf("banner %q", r)
			return
		}
		d.send("EHLO c\r\n")
		d.reply()
		d.send(plain("dave", pw) + "\r\n")
		r := d.reply()
		mu.Lock()
		replies[r[:min(3, len(r))]+map[bool]string{true: " right", false: ""}[pw == "dave-pw"]]++
		mu.Unlock()
	}
	for i := 0; i < 19; i++ {
		wg.Add(1)
		go try(fmt.Sprintf("guess%d", i))
	}
	for deadline := time.Now().Add(500 * time.Millisecond); src.calls.Load() < 19 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	wg.Add(1)
	go try("dave-pw")
	wg.Wait()
	if replies["235 right"] != 0 || replies["454 right"] != 1 || replies["535"] > 3 || obs.count("bad_credentials") > 4 {
		t.Errorf("replies %v, failures checked %v (want at most 4 checked, 3 answered 535, the right password 454)", replies, obs.auths)
	}
}
