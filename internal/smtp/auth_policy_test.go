package smtp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// policyObserver records the receive-side policy events.
type policyObserver struct {
	nopObserver
	mu    sync.Mutex
	auths map[string]int
}

func (o *policyObserver) AuthFailure(connector, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.auths == nil {
		o.auths = map[string]int{}
	}
	o.auths[reason]++
}

func (o *policyObserver) count(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.auths[reason]
}

// startWith runs a Server built from cfg (hostname, routing and queue
// filled in when unset) on loopback.
func startWith(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.test"
	}
	if cfg.Routing == nil {
		cfg.Routing = testTable()
	}
	if cfg.Queue == nil {
		cfg.Queue = &fakeQueue{}
	}
	if cfg.Log == nil {
		cfg.Log = logUniqueKeys(t)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// waitPending waits (bounded) until n timers wait on the fake clock: a
// session has gone to sleep on it.
func waitPending(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if clk.Pending() >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no session waits on the clock (%d timers pending, want %d)", clk.Pending(), n)
}

// advanceAndExpect moves the fake clock once a session sleeps on it and
// checks the reply then written.
func (d *dialog) failAfter(clk *clock.Fake, line string, delay time.Duration, want string) {
	d.t.Helper()
	d.send(line + "\r\n")
	waitPending(d.t, clk, 1)
	if delay > time.Millisecond {
		clk.Advance(delay - time.Millisecond)
		if clk.Pending() != 1 {
			d.t.Fatalf("%q: the reply came before the %v delay", line, delay)
		}
	}
	clk.Advance(time.Millisecond)
	d.expect(want)
}

const (
	plainAlice    = "AUTH PLAIN AGFsaWNlAHNlY3JldA==" // \0alice\0secret
	plainAliceBad = "AUTH PLAIN AGFsaWNlAHdyb25n"     // \0alice\0wrong
	plainHub      = "AUTH PLAIN AGh1YjIAaHVicGFzcw==" // \0hub2\0hubpass
	plainHubBad   = "AUTH PLAIN AGh1YjIAZ3Vlc3M="     // \0hub2\0guess
	plainNobody   = "AUTH PLAIN AG5vYm9keQB3cm9uZw==" // \0nobody\0wrong
	loginUserB64  = "YWxpY2U="                        // alice
	loginPassB64  = "c2VjcmV0"                        // secret
	throttleCfg   = "{delay: 1s, max_delay: 4s, lockout_after: 4, lockout: 10m, window: 1h}"
	authConnector = `
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay], servers: [submit, relay]}
    limits: {max_auth_failures: 3}
`
)

func throttle(t *testing.T) config.AuthThrottle {
	t.Helper()
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:0\"]}]\nauth_throttle: "+throttleCfg+"\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c.AuthThrottle
}

// The hash compared for an unknown user costs what the configured
// hashes cost, so a refusal takes as long whether or not the name exists.
func TestAuthDummyHashHasConfiguredCost(t *testing.T) {
	for _, costs := range [][]int{{bcrypt.MinCost, bcrypt.MinCost + 1}, {bcrypt.MinCost + 2, bcrypt.MinCost}} {
		var lines []string
		max := 0
		for i, c := range costs {
			h, _ := bcrypt.GenerateFromPassword([]byte("pw"), c)
			lines = append(lines, fmt.Sprintf("u%d:%s", i, h))
			max = maxInt(max, c)
		}
		p := filepath.Join(t.TempDir(), "creds")
		os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
		creds, err := LoadCredentials(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := bcrypt.Cost(creds.unknownUserHash())
		if err != nil || got != max {
			t.Errorf("costs %v: the unknown-user hash has cost %d (%v), want %d", costs, got, err, max)
		}
		if string(creds.unknownUserHash()[:4]) != "$2a$" {
			t.Errorf("the unknown-user hash is not bcrypt: %.4s", creds.unknownUserHash())
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// RFC 4954 reply codes, and SASL responses that are never taken for
// commands.
func TestAuthRFC4954Replies(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	creds := credsFile(t)
	for _, tc := range []struct {
		name   string
		script [][2]string
	}{
		{"invalid base64 initial response", [][2]string{{"AUTH PLAIN !!!!", "501 5.5.2"}, {plainAlice, "235 2.0.0"}}},
		{"invalid base64 response", [][2]string{{"AUTH LOGIN", "334"}, {"#$%&", "501 5.5.2"}, {plainAlice, "235 2.0.0"}}},
		{"cancelled", [][2]string{{"AUTH LOGIN", "334"}, {"*", "501 5.0.0"}, {plainAlice, "235 2.0.0"}}},
		{"during a mail transaction", [][2]string{{"MAIL FROM:<a@example.org>", "250"}, {plainAlice, "503 5.5.1"},
			{"RSET", "250"}, {plainAlice, "235 2.0.0"}}},
		{"after success", [][2]string{{plainAlice, "235 2.0.0"}, {plainAlice, "503 5.5.1"}}},
		{"unknown mechanism", [][2]string{{"AUTH CRAM-MD5", "504 5.5.4"}}},
		{"no mechanism", [][2]string{{"AUTH", "501 5.5.4"}}},
		{"response that looks like a verb", [][2]string{{"AUTH LOGIN", "334 VXNlcm5hbWU6"}, {"STARTTLS", "334 UGFzc3dvcmQ6"},
			{loginPassB64, "535 5.7.8"}}},
		{"PLAIN without initial response", [][2]string{{"AUTH PLAIN", "334"}, {"AGFsaWNlAHNlY3JldA==", "235 2.0.0"}}},
		{"empty initial response", [][2]string{{"AUTH PLAIN =", "501 5.5.2"}, {plainAlice, "235 2.0.0"}}},
		{"malformed PLAIN response", [][2]string{{"AUTH PLAIN AGFsaWNl", "501 5.5.2"}, {plainAlice, "235 2.0.0"}}},
		{"login", [][2]string{{"AUTH LOGIN", "334 VXNlcm5hbWU6"}, {loginUserB64, "334 UGFzc3dvcmQ6"}, {loginPassB64, "235 2.0.0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns := connectors(t, fmt.Sprintf(authConnector+"    tls: {cert_file: %q, key_file: %q}\n", creds, certFile, keyFile))
			s := startWith(t, ServerConfig{Connectors: conns})
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			for _, step := range tc.script {
				d.cmd(step[0], step[1])
			}
		})
	}
}

// Failures of one source address are throttled across its connections:
// an increasing delay, then a lock-out in which even the right password
// gets 454 4.7.0; other sources are not affected; the lock-out ends.
func TestAuthThrottlePerSource(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	obs := &policyObserver{}
	s := startWith(t, ServerConfig{Connectors: connectors(t, fmt.Sprintf(authConnector, credsFile(t))),
		Clock: clk, AuthThrottle: throttle(t), Observer: obs})

	d := dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainAliceBad, time.Second, "535 5.7.8")
	d.failAfter(clk, plainNobody, 2*time.Second, "535 5.7.8")
	d.failAfter(clk, plainAliceBad, 4*time.Second, "421 4.7.0") // session limit, delay capped
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session not closed: %q", got)
	}

	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainAliceBad, 4*time.Second, "454 4.7.0") // 4th failure of the source: locked out
	d.failAfter(clk, plainAlice, 4*time.Second, "454 4.7.0")    // a user's right password does not pass a lock-out

	other := dial(t, s, "127.0.0.3")
	other.expect("220")
	other.cmd("EHLO c", "250")
	other.cmd(plainAlice, "235 2.0.0") // another source; success is never delayed

	clk.Advance(10 * time.Minute)
	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainAlice, "235 2.0.0")

	if obs.count("bad_credentials") != 4 || obs.count("locked_out") != 1 {
		t.Errorf("auth failures counted: %v", obs.auths)
	}
}

// A lock-out of a source address never keeps a transport server account
// out (issue 14: per-account delay only): a guesser sharing the server's
// address (NAT, a shared host) locks the address out, and the server
// still logs in at once with its password — its heartbeats go on, no
// shadow server takes over a live primary. A wrong server password from
// the locked address waits the source's delay and gets the same 454 as
// any other name, after the same delay, so the lock-out tells an
// attacker nothing new about which names are server accounts.
func TestAuthLockoutNeverKeepsServerAccountOut(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Connectors: connectors(t, fmt.Sprintf(authConnector, credsFile(t))),
		Clock: clk, AuthThrottle: throttle(t)})
	lockOut := func(from string) {
		d := dial(t, s, from)
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.failAfter(clk, plainNobody, time.Second, "535 5.7.8")
		d.failAfter(clk, plainNobody, 2*time.Second, "535 5.7.8")
		d = dial(t, s, from)
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.failAfter(clk, plainNobody, 4*time.Second, "535 5.7.8")
		d.failAfter(clk, plainNobody, 4*time.Second, "454 4.7.0") // the source's 4th failure locks it out
	}
	lockOut("127.0.0.2")
	d := dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainHub, "235 2.0.0") // the server account passes at once
	d.cmd("QUIT", "221")

	// In the lock-out, a server name and a user name with a wrong
	// password, first tries of each: the same reply after the same
	// (the source's) delay.
	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainHubBad, 4*time.Second, "454 4.7.0")
	d.failAfter(clk, plainAliceBad, 4*time.Second, "454 4.7.0")
	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.failAfter(clk, plainAlice, 4*time.Second, "454 4.7.0") // a user stays locked out, right password or not
	d.cmd(plainHub, "235 2.0.0")                             // the server still at once
	// LOGIN too.
	d = dial(t, s, "127.0.0.2")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN", "334")
	d.cmd("aHViMg==", "334") // hub2
	d.cmd("aHVicGFzcw==", "235 2.0.0")
}

// An account is delayed, never locked out: guessing a transport server's
// password from many addresses must not keep the server itself out.
func TestAuthThrottlePerAccountDelaysOnly(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Connectors: connectors(t, fmt.Sprintf(authConnector, credsFile(t))),
		Clock: clk, AuthThrottle: throttle(t)})

	for i, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second} {
		d := dial(t, s, fmt.Sprintf("127.0.0.%d", 10+i)) // a fresh source each time
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.failAfter(clk, plainHubBad, delay, "535 5.7.8") // the account's delay grows
	}
	d := dial(t, s, "127.0.0.30")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plainHub, "235 2.0.0") // the server itself logs in at once
}
