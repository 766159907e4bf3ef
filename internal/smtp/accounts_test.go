package smtp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// fakeAccounts is an AccountSource whose answers the test sets.
type fakeAccounts struct {
	mu    sync.Mutex
	down  bool
	asked []string
}

func (f *fakeAccounts) Authenticate(_ context.Context, name, password string) (user string, ok, server bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, name)
	// Names match as LDAP's uid does: case and extra spaces ignored; the
	// identity returned is the one stored. (The fake's own folding, not
	// AccountKey's: the fullwidth variants below stay apart here, a
	// directory whose rules the throttle does not know.)
	switch folded := strings.ToLower(strings.Join(strings.Fields(name), " ")); {
	case f.down:
		return "", false, false, errors.New("directory unreachable")
	case folded == "dora" && password == "dora-pw":
		return "dora", true, false, nil
	case folded == "alice" && password == "directory-alice-pw": // another alice than the file's
		return "alice", true, false, nil
	case folded == "hub9" && password == "hub9-pw":
		return "hub9", true, true, nil
	case folded == "carol" || folded == "\uff43arol" || folded == "c\uff41rol":
		// carol's entry, which the directory also finds for fullwidth
		// variants: never accepted through those, named on a refusal.
		return "carol", folded == "carol" && password == "carol-pw", false, nil
	}
	return "", false, false, nil
}

func (f *fakeAccounts) HasServer() bool { return true }

func plain(user, pw string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw))
}

// auth.ldap: names the credentials file lists are decided by the file
// (the source is not asked); other names by the account source. A
// source that cannot answer gets 454 4.7.0 and counts as no failure
// (max_auth_failures 2 is not reached by three of them), and lets
// nobody in.
func TestAuthAccountSource(t *testing.T) {
	creds := credsFile(t)
	src := &fakeAccounts{}
	conns := connectors(t, fmt.Sprintf(`
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, ldap: true, allow_insecure: true}
    permissions: {authenticated: [submit]}
    limits: {max_auth_failures: 2}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x", account_filter: "(uid=%%s)"}
`, creds))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{}, Accounts: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5e9)
		defer cancel()
		s.Shutdown(ctx)
	})

	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plain("alice", "secret"), "235") // from the file
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plain("alice", "wrong"), "535 5.7.8") // the file says no: the source is not asked
	d.cmd(plain("dora", "dora-pw"), "235")
	// A variant of a name the file lists is the file's to decide: the
	// directory's alice is not asked through " ALICE".
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plain(" ALICE", "directory-alice-pw"), "535 5.7.8")
	src.mu.Lock()
	if strings.Join(src.asked, ",") != "dora" {
		t.Fatalf("source asked about %q, want dora only", src.asked)
	}
	src.mu.Unlock()

	src.mu.Lock()
	src.down = true
	src.mu.Unlock()
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for i := 0; i < 3; i++ {
		d.cmd(plain("dora", "dora-pw"), "454 4.7.0")
	}
	d.cmd("MAIL FROM:<a@example.org>", "") // still open, not authenticated
	d.cmd("QUIT", "221")

	if _, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{}}); err == nil {
		t.Fatal("auth.ldap without an account source was accepted")
	}
}

// The throttle counts a failure against the account the directory
// resolved the name to, not the name as typed: variants the directory
// folds beyond ASCII case ("\uff43arol" for carol) are one count with
// carol, and the success clears that count.
func TestAuthThrottleKeysResolvedAccount(t *testing.T) {
	src := &fakeAccounts{}
	conns := connectors(t, `
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {authenticated: [submit]}
    limits: {max_auth_failures: 10}
ldap: {url: "ldap://127.0.0.1", base_dn: "dc=x", account_filter: "(uid=%s)"}
`)
	// No delay (the counts are what is checked), a window that keeps them.
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{}, Accounts: src,
		AuthThrottle: config.AuthThrottle{Window: config.Duration(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5e9)
		defer cancel()
		s.Shutdown(ctx)
	})
	keys := func() []string {
		s.guard.mu.Lock()
		defer s.guard.mu.Unlock()
		var k []string
		for n, f := range s.guard.accounts {
			k = append(k, fmt.Sprintf("%s=%d", n, f.n))
		}
		return k
	}
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(plain("\uff43arol", "carol-pw"), "535 5.7.8") // the right password, not carol's name
	d.cmd(plain("c\uff41rol", "wrong"), "535 5.7.8")
	d.cmd(plain("carol", "wrong"), "535 5.7.8")
	if k := keys(); len(k) != 1 || k[0] != "carol=3" {
		t.Fatalf("throttle counts %q, want carol=3 (every variant against the account)", k)
	}
	d.cmd(plain("carol", "carol-pw"), "235")
	if k := keys(); len(k) != 0 {
		t.Fatalf("after carol's success the throttle still counts %q", k)
	}
}

// Variants of one account name (as an LDAP directory matches them) share
// one AUTH throttle: retyping "carol" as " carol" or "CAROL  " does not
// start the delay again at its first step.
func TestAuthThrottleFoldsAccountNames(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	cfg := throttle(t)
	g := newAuthGuard(clk, cfg)
	var got []time.Duration
	for i, name := range []string{"carol", "carol ", " carol", "CAROL  ", "Carol\t"} {
		// A new source each time: only the account's count can grow.
		d, _ := g.failed(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), name, false)
		got = append(got, d)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] && got[i] < cfg.MaxDelay.D() {
			t.Fatalf("delays %v: a variant of the name started its own throttle", got)
		}
	}
	if d := g.failedLockedOut(netip.AddrFrom4([4]byte{192, 0, 2, 99}), " CAROL"); d < got[len(got)-1] {
		t.Fatalf("locked-out delay of a variant %v, want at least %v", d, got[len(got)-1])
	}
	g.succeeded("carol  ")
	if len(g.accounts) != 0 {
		t.Fatalf("a success under a variant left %d account counts", len(g.accounts))
	}
	for in, want := range map[string]string{"  Carol   Smith ": "carol smith", "ALICE": "alice", "": ""} {
		if got := AccountKey(in); got != want {
			t.Errorf("AccountKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// A flood of made-up names filling the throttle does not evict the
// count of the account under attack: its next failure waits longer.
func TestAuthThrottleFloodKeepsGuessedAccount(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	g := newAuthGuard(clk, throttle(t))
	src := netip.MustParseAddr("192.0.2.1")
	var last time.Duration
	for i := 0; i < 2; i++ { // 1s, 2s: below max_delay (4s)
		last, _ = g.failed(src, "carol", false)
	}
	clk.Advance(time.Second) // older than every flooded name: LRU would drop it first
	for i := 0; i < maxGuardKeys+100; i++ {
		// Each from a source of its own: only the account counts tell.
		g.failedLockedOut(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), fmt.Sprintf("name%d", i))
	}
	if len(g.accounts) > maxGuardKeys {
		t.Fatalf("%d account keys", len(g.accounts))
	}
	if d := g.failedLockedOut(netip.MustParseAddr("192.0.2.200"), "carol"); d <= last {
		t.Fatalf("carol's delay after the flood %v, want more than %v", d, last)
	}
}
