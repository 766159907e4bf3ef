package smtp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// authGuard throttles password guessing across the connections of every
// receive connector of a server.
//
// Model: each failed AUTH is counted against its source (the client's
// address; for IPv6 its /64, which one host can fill) and against the
// account name tried, known or not (so the throttle itself tells no names
// apart). Counts decay: a key whose last failure is older than Window
// starts again from zero. A failure is answered after
// Delay·2^(n-1), capped at MaxDelay, where n is the larger of the two
// counts; a success is never delayed. A source reaching LockoutAfter
// failures is locked out for Lockout: on every connection its AUTH
// exchanges end in 454 4.7.0 — except a transport server account's with
// the right password. An account is never locked out, nor is a server
// account behind a locked-out address (NAT, a shared host): anyone who
// can reach a hub could otherwise keep a transport server out of it and
// make its shadow servers take over a live primary. So in a lock-out a
// server account's password is still checked (any other name's waits as
// long instead, Credentials.equalise) and a failure waits the source's
// delay, its failures counting on (failedLockedOut), whatever the name:
// reply and timing are those of any locked-out attempt unless the
// password of a server account was right.
//
// The lock-out holds under concurrency: an attempt reserves its place
// against the source before its password is checked (reserve), and
// attempts under way count with the failures, so no more than
// LockoutAfter guesses are checked however many connections send them at
// once. An attempt finding every place taken by attempts still under way
// waits (bounded) for them to end: then the source is locked out, or a
// place is free. A success seen after the source was locked out does not
// log in (the session asks lockedOut again).
//
// Account names are counted in their folded form (AccountKey): the
// account directory matches names by LDAP equality rules, which ignore
// case, Unicode compatibility forms and leading, trailing and repeated
// spaces, so "carol", " carol", "CAROL  " and "\uff43arol" are one
// account and must be one throttle. The session
// counts a name the account source resolved to an account under that
// account's identity instead (a directory folds more than case and
// spaces: "\uff43arol" finds carol's entry), so no typed variant of a
// name has a throttle of its own.
//
// Memory is bounded: at most maxGuardKeys keys per kind; when full, keys
// past their window go first, then one not locked out with the fewest
// failures (the oldest among those), so a flood of made-up names cannot
// reset the count of the account under attack.
type authGuard struct {
	clk clock.Clock
	cfg config.AuthThrottle

	mu       sync.Mutex
	sources  map[string]*failures
	accounts map[string]*failures
	ended    chan struct{} // closed and replaced when a reserved attempt ends
}

type failures struct {
	n           int
	last        time.Time
	lockedUntil time.Time
	inflight    int // attempts reserved and not yet ended (sources only)
}

const maxGuardKeys = 10000

func newAuthGuard(clk clock.Clock, cfg config.AuthThrottle) *authGuard {
	return &authGuard{clk: clk, cfg: cfg, sources: map[string]*failures{}, accounts: map[string]*failures{}, ended: make(chan struct{})}
}

// sourceKey is the address a throttle counts against: an IPv4 address,
// or the /64 of an IPv6 address.
func sourceKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// AccountKey is the form of an account name the throttle counts and the
// credential lookup compares variants by (listsVariant): Unicode
// compatibility forms composed (NFKC: fullwidth letters, a decomposed
// accent), case folded, spaces trimmed and runs of them collapsed — the
// caseIgnoreMatch and caseIgnoreIA5Match rules of uid and mail (RFC 4517
// §4.2.11 and §4.2.13, prepared as RFC 4518 §2: map with case folding,
// normalise to NFKC, insignificant space handling). A key longer than
// maxAccountKey is kept as a digest: the throttle's memory does not grow
// with what a client types as a name.
func AccountKey(name string) string {
	k := norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
	k = strings.Join(strings.Fields(k), " ")
	if len(k) > maxAccountKey {
		sum := sha256.Sum256([]byte(k))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

const maxAccountKey = 64

// lockedOut reports whether the source is locked out now.
func (g *authGuard) lockedOut(ip netip.Addr) bool {
	if g.cfg.LockoutAfter <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.sources[sourceKey(ip)]
	return f != nil && g.clk.Now().Before(f.lockedUntil)
}

// reserveWait bounds how long an attempt waits for the attempts under
// way from its source to end; past it, it is answered as locked out.
const reserveWait = 30 * time.Second

// reserve takes a place for one AUTH attempt from ip before its password
// is checked. It reports false when the source is locked out, or when
// every place (LockoutAfter less the failures counted, at least one) is
// taken by attempts under way and none ended within reserveWait (or ctx
// ended): the attempt is then answered as in a lock-out. A true answer
// must be ended by failed(…, true) or release.
func (g *authGuard) reserve(ctx context.Context, ip netip.Addr) bool {
	if g.cfg.LockoutAfter <= 0 {
		return true
	}
	key := sourceKey(ip)
	t := g.clk.NewTimer(reserveWait)
	defer t.Stop()
	for {
		g.mu.Lock()
		now := g.clk.Now()
		f := g.sources[key]
		if f == nil {
			if len(g.sources) >= maxGuardKeys {
				g.evict(g.sources, now)
			}
			f = &failures{last: now}
			g.sources[key] = f
		}
		if now.Sub(f.last) > g.cfg.Window.D() && now.After(f.lockedUntil) && f.inflight == 0 {
			f.n = 0
		}
		switch {
		case now.Before(f.lockedUntil):
			g.mu.Unlock()
			return false
		case f.inflight < max(1, g.cfg.LockoutAfter-f.n):
			f.inflight++
			g.mu.Unlock()
			return true
		}
		ended := g.ended
		g.mu.Unlock()
		select {
		case <-ended:
		case <-t.C():
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// release ends a reserved attempt that was no failure (a success, or an
// account source that could not answer).
func (g *authGuard) release(ip netip.Addr) {
	if g.cfg.LockoutAfter <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endAttempt(g.sources[sourceKey(ip)])
}

// endAttempt ends a reserved attempt of f, caller holding g.mu, and wakes
// the attempts waiting for a place.
func (g *authGuard) endAttempt(f *failures) {
	if f != nil && f.inflight > 0 {
		f.inflight--
	}
	close(g.ended)
	g.ended = make(chan struct{})
}

// failed counts a failure of account from ip, ending its reserved
// attempt when reserved. It returns the delay before the failure may be
// answered and whether this failure locked the source out.
func (g *authGuard) failed(ip netip.Addr, account string, reserved bool) (delay time.Duration, lockedNow bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	src := g.count(g.sources, sourceKey(ip), now)
	if reserved && g.cfg.LockoutAfter > 0 {
		g.endAttempt(src)
	}
	acct := g.count(g.accounts, AccountKey(account), now)
	if g.cfg.LockoutAfter > 0 && src.n >= g.cfg.LockoutAfter && !now.Before(src.lockedUntil) {
		src.lockedUntil = now.Add(g.cfg.Lockout.D())
		lockedNow = true
	}
	return g.delay(max(src.n, acct.n)), lockedNow
}

// failedLockedOut counts a failure of account from a source that is
// locked out (or whose every place is taken), and returns the delay
// before it may be answered: that of the source's failures, which go on
// counting, or the account's if longer — whatever the name, so that
// a guesser keeps paying a growing delay and the delay tells a server
// account from any other name no better than outside a lock-out. Only
// failures are delayed: a transport server sharing the address logs in
// at once with its password.
func (g *authGuard) failedLockedOut(ip netip.Addr, account string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	src := g.count(g.sources, sourceKey(ip), now)
	acct := g.count(g.accounts, AccountKey(account), now)
	return g.delay(max(src.n, acct.n))
}

// succeeded forgets an account's failures: its owner knows the password.
// The source's count stays (a valid account must not reset a guesser's).
func (g *authGuard) succeeded(account string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.accounts, AccountKey(account))
}

func (g *authGuard) delay(n int) time.Duration {
	d, maxD := g.cfg.Delay.D(), g.cfg.MaxDelay.D()
	if d <= 0 || n <= 0 {
		return 0
	}
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

// count adds one failure to key in m, caller holding g.mu.
func (g *authGuard) count(m map[string]*failures, key string, now time.Time) *failures {
	f := m[key]
	if f == nil {
		if len(m) >= maxGuardKeys {
			g.evict(m, now)
		}
		f = &failures{}
		m[key] = f
	}
	if now.Sub(f.last) > g.cfg.Window.D() && now.After(f.lockedUntil) && f.inflight == 0 {
		f.n = 0
	}
	f.n++
	f.last = now
	return f
}

// evict makes room in m: keys past their window and lock-out go; if none
// did, the key with the fewest failures (the oldest among those) goes,
// never a locked-out one while another is left: a flood of new names
// or addresses must not reset the count of the account being guessed.
func (g *authGuard) evict(m map[string]*failures, now time.Time) {
	var oldest string
	var oldestF *failures
	for k, f := range m {
		if f.inflight > 0 {
			continue // an attempt under way keeps its place
		}
		if now.Sub(f.last) > g.cfg.Window.D() && now.After(f.lockedUntil) {
			delete(m, k)
			continue
		}
		if oldestF == nil || lessGuarded(f, oldestF, now) {
			oldest, oldestF = k, f
		}
	}
	if len(m) >= maxGuardKeys {
		delete(m, oldest)
	}
}

// lessGuarded: a is evicted before b (not locked out before locked out,
// fewer failures first, then the older last failure).
func lessGuarded(a, b *failures, now time.Time) bool {
	al, bl := now.Before(a.lockedUntil), now.Before(b.lockedUntil)
	switch {
	case al != bl:
		return !al
	case a.n != b.n:
		return a.n < b.n
	}
	return a.last.Before(b.last)
}
