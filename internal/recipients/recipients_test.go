package recipients

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
)

func TestParseFile(t *testing.T) {
	l, err := ParseFile([]byte("# recipients\n\nalice@example.test\n  Bob@Example.TEST   # the boss\r\n@catch.test\nx#y@example.test\n"), "r.txt")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]Verdict{
		"alice@example.test": Known, "bob@example.test": Known, "BOB@example.test": Known,
		"anyone@catch.test": Known, "x#y@example.test": Known,
		"carol@example.test": Unknown, "alice@other.test": Unknown,
	} {
		if got, _ := l.Lookup(context.Background(), addr); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
	if l.Len() != 4 || !l.Covers("example.test") || !l.Covers("catch.test") || l.Covers("other.test") {
		t.Errorf("len %d, covers wrong", l.Len())
	}
}

func TestParseFileErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@example.test\nbob\n", "r.txt:2: \"bob\": not user@domain or @domain"},
		{"a@b@example.test\n", "r.txt:1:"},
		{"alice@exa mple.test\n", "r.txt:1: one address per line"},
		{"ok@example.test\n.alice@example.test\n", "r.txt:2: \".alice@example.test\": bad local part: local part starts with a dot"},
		{"alice@-bad.test", "r.txt:1: \"alice@-bad.test\": bad domain"},
		{"alice@example.test\x00\n", "r.txt:1: one address per line"},
		{"\xff@example.test\n", "r.txt: not UTF-8"},
		{"@\n", "r.txt:1:"},
	} {
		_, err := ParseFile([]byte(tc.in), "r.txt")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	many := strings.Repeat("bad\n", 100)
	if _, err := ParseFile([]byte(many), "r.txt"); err == nil || strings.Count(err.Error(), "\n") > maxFileErrors+1 {
		t.Errorf("errors not bounded: %v", err)
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte("alice@example.test\n@catch.test\n# c\n"))
	f.Add([]byte("a@b@c\n\r\n \t#x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseFile(data, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		// Every entry parsed is found again, and the list is stable.
		for a := range l.addrs {
			if v, _ := l.Lookup(context.Background(), a); v != Known {
				t.Fatalf("%q not known", a)
			}
			if strings.ContainsAny(a, " \t\r\n") || strings.Count(a, "@") != 1 {
				t.Fatalf("bad entry %q", a)
			}
		}
	})
}

type fakeDir Verdict

func (f fakeDir) Lookup(context.Context, string) (Verdict, error) {
	if Verdict(f) == CannotDecide {
		return CannotDecide, errors.New("down")
	}
	return Verdict(f), nil
}

func TestChainAndValidator(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		c    Chain
		want Verdict
	}{
		{Chain{fakeDir(Unknown), fakeDir(Known)}, Known},
		{Chain{fakeDir(CannotDecide), fakeDir(Known)}, Known},
		{Chain{fakeDir(Unknown), fakeDir(CannotDecide)}, CannotDecide},
		{Chain{fakeDir(Unknown)}, Unknown},
		{Chain{}, Unknown},
	} {
		if got, _ := tc.c.Lookup(ctx, "a@b.test"); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.c, got, tc.want)
		}
	}
	list, _ := NewList([]string{"alice@dir.test", "alice@relay.test"})
	v := NewValidator([]DomainMode{{"dir.test", ModeDirectory}, {"*.relay.test", ModeCallout}, {"relay.test", ModeCallout},
		{"open.test", Off}}, Chain{list}, fakeDir(CannotDecide))
	for addr, want := range map[string]Verdict{
		"alice@dir.test": Known, "bob@dir.test": Unknown,
		"alice@relay.test": Known, "bob@relay.test": CannotDecide, "bob@sub.relay.test": CannotDecide,
		"anyone@open.test": Known, "x@not-accepted.test": Known,
	} {
		if got, _ := v.Check(ctx, addr); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
	// A callout domain without a callout cannot decide; never accepts.
	v = NewValidator([]DomainMode{{"relay.test", ModeCallout}}, nil, nil)
	if got, err := v.Check(ctx, "x@relay.test"); got != CannotDecide || err == nil {
		t.Errorf("no callout: %v %v", got, err)
	}
}

// memCache is a Cache in memory (the transport database's is tested in
// package queue and end to end).
type memCache struct {
	mu  sync.Mutex
	m   map[string]Entry
	max int // the cap of the last PutRecipient
}

func (c *memCache) GetRecipient(a string) (Entry, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[a]
	return e, ok, nil
}

func (c *memCache) PutRecipient(_ context.Context, a string, e Entry, max int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[a] = e
	c.max = max
	return nil
}

func (c *memCache) PruneRecipients(_ context.Context, pos, neg time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, e := range c.m {
		if e.Known && e.Checked.Before(pos) || !e.Known && e.Checked.Before(neg) {
			delete(c.m, k)
			n++
		}
	}
	return n, nil
}

// hub answers like a next hop: known addresses 250, others 550, or
// nothing at all while down.
type hub struct {
	mu    sync.Mutex
	known map[string]bool
	down  bool
	calls int
}

func (h *hub) Verify(_ context.Context, a string) (Verdict, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	switch {
	case h.down:
		return CannotDecide, "", errors.New("connection refused")
	case h.known[a]:
		return Known, "250 2.1.5 ok", nil
	}
	return Unknown, "550 5.1.1 unknown", nil
}

func TestCalloutCacheAndTTL(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	h := &hub{known: map[string]bool{"alice@corp.test": true}}
	cache := &memCache{m: map[string]Entry{}}
	c := NewCallout(CalloutConfig{Verifier: h, Cache: cache, Key: ownedKey, Now: clk.Now, PositiveTTL: 7 * 24 * time.Hour, NegativeTTL: 3 * time.Hour})
	look := func(a string) Verdict {
		t.Helper()
		v, _ := c.Lookup(ctx, a)
		return v
	}
	if look("alice@corp.test") != Known || look("ALICE@corp.test") != Known || look("mallory@corp.test") != Unknown {
		t.Fatal("first answers wrong")
	}
	if h.calls != 2 {
		t.Fatalf("%d callouts, want 2 (the second alice was cached)", h.calls)
	}
	if cache.max != DefaultMaxEntries {
		t.Fatalf("answers written with cap %d, want the default %d", cache.max, DefaultMaxEntries)
	}
	// The hub goes down: fresh answers decide, an unasked address
	// cannot be decided.
	h.down = true
	if look("alice@corp.test") != Known || look("mallory@corp.test") != Unknown {
		t.Fatal("cached answers do not decide while the hub is down")
	}
	if v, err := c.Lookup(ctx, "new@corp.test"); v != CannotDecide || err == nil {
		t.Fatalf("never asked address: %v %v", v, err)
	}
	// Past its TTL an answer is asked again; the hub being down, the
	// stale answer still decides, until StaleFactor TTLs.
	clk.Advance(4 * time.Hour)
	calls := h.calls
	if look("mallory@corp.test") != Unknown || h.calls != calls+1 {
		t.Fatal("stale negative answer: not asked again or not used")
	}
	clk.Advance(9 * time.Hour) // 13 h > 4 × 3 h
	if look("mallory@corp.test") != CannotDecide {
		t.Fatal("a negative answer older than four TTLs still decides")
	}
	if look("alice@corp.test") != Known {
		t.Fatal("positive answer lost")
	}
	if n, _ := c.Prune(ctx); n != 1 {
		t.Fatalf("pruned %d, want the old negative answer", n)
	}
	// The hub is back: the answer is refreshed.
	h.down = false
	h.known["new@corp.test"] = true
	if look("new@corp.test") != Known {
		t.Fatal("refreshed answer wrong")
	}
}

// TestCalloutMaxEntriesPassed: the configured cap reaches every write
// of the cache, a callout's answer and a delivery's correction alike.
func TestCalloutMaxEntriesPassed(t *testing.T) {
	ctx := context.Background()
	h := &hub{known: map[string]bool{"alice@corp.test": true}}
	cache := &memCache{m: map[string]Entry{}}
	c := NewCallout(CalloutConfig{Verifier: h, Cache: cache, MaxEntries: 7})
	if v, _ := c.Lookup(ctx, "alice@corp.test"); v != Known || cache.max != 7 {
		t.Fatalf("lookup: %v, cap %d", v, cache.max)
	}
	cache.max = 0
	if !c.Refused(ctx, "alice@corp.test", "550 5.1.1 gone") || cache.max != 7 {
		t.Fatalf("refused: cap %d", cache.max)
	}
}

// TestCalloutConcurrencyBounded: with MaxConcurrent callouts in flight,
// another address is not asked (no flood of sessions to the hubs): it
// cannot be decided within its timeout.
func TestCalloutConcurrencyBounded(t *testing.T) {
	inside, release := make(chan struct{}), make(chan struct{})
	v := verifierFunc(func(ctx context.Context, a string) (Verdict, string, error) {
		if a == "slow@corp.test" {
			close(inside)
			<-release
		}
		return Known, "250", nil
	})
	c := NewCallout(CalloutConfig{Verifier: v, Cache: &memCache{m: map[string]Entry{}}, MaxConcurrent: 1, Timeout: 50 * time.Millisecond})
	done := make(chan Verdict)
	go func() {
		v, _ := c.Lookup(context.Background(), "slow@corp.test")
		done <- v
	}()
	<-inside
	if v, err := c.Lookup(context.Background(), "other@corp.test"); v != CannotDecide || err == nil {
		t.Fatalf("a callout past the bound: %v %v", v, err)
	}
	close(release)
	if v := <-done; v != Known {
		t.Fatalf("slow lookup: %v", v)
	}
	if v, _ := c.Lookup(context.Background(), "other@corp.test"); v != Known {
		t.Fatal("the bound is not freed")
	}
}

type verifierFunc func(ctx context.Context, a string) (Verdict, string, error)

func (f verifierFunc) Verify(ctx context.Context, a string) (Verdict, string, error) {
	return f(ctx, a)
}

// The configuration checks inline and topology entries with these rules
// (config.ValidRecipientEntry); both must agree, or an entry config
// accepted would fail the start without a line number.
func TestEntryRulesAgreeWithConfig(t *testing.T) {
	for _, e := range []string{"alice@example.test", "@example.test", "a.b+c@x.y", "ünï@example.test", ".a@x.y", "a..b@x.y",
		"a b@x.y", "a\x01@x.y", "a@x_y.z", "a@x.y.", "a@", "@", "a\"b@x.y", strings.Repeat("a", 65) + "@x.y", "a@b@c.d", "a@-x.y",
		"anna@bücher.test", "@bücher.test", "a@exa\u00admple.test", "a@xn--zz.test", "a@bü..test", "a@" + strings.Repeat("ü", 70) + ".test"} {
		_, err := NewList([]string{e})
		if got, want := config.ValidRecipientEntry(e), err == nil; got != want {
			t.Errorf("%q: config says %v, recipients says %v (%v)", e, got, want, err)
		}
	}
}

// A mailbox deleted after its positive answer was cached: the next hop's
// 5.1.1 at delivery replaces the answer, so the next RCPT is refused at
// once instead of accepted and bounced for the rest of the TTL. Other
// refusals, and addresses never verified, leave the cache alone.
func TestCalloutLearnsFromRefusal(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	h := &hub{known: map[string]bool{"alice@corp.test": true}}
	cache := &memCache{m: map[string]Entry{}}
	c := NewCallout(CalloutConfig{Verifier: h, Cache: cache, Key: ownedKey, Now: clk.Now})
	if v, _ := c.Lookup(ctx, "alice@corp.test"); v != Known {
		t.Fatal("alice not known")
	}
	delete(h.known, "alice@corp.test") // deleted at the hub
	if c.Refused(ctx, "alice@corp.test", "452 4.2.2 mailbox full") || c.Refused(ctx, "alice@corp.test", "554 5.4.6 loop") {
		t.Fatal("a refusal that is not about the address changed the answer")
	}
	if c.Refused(ctx, "bob@corp.test", "550 5.1.1 unknown") {
		t.Fatal("an address never verified was cached")
	}
	if !c.Refused(ctx, "Alice@corp.test", "550 5.1.1 <alice@corp.test>: user unknown") {
		t.Fatal("a 5.1.1 did not replace the positive answer")
	}
	calls := h.calls
	if v, _ := c.Lookup(ctx, "alice@corp.test"); v != Unknown || h.calls != calls {
		t.Fatalf("after the refusal: %v (callouts %d → %d)", v, calls, h.calls)
	}
}

// A recipients file is read up to its limit, not whole (rt34 F16). The
// file is sparse: a size, not disk.
func TestLoadFileReadsUpToItsLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	os.WriteFile(p, nil, 0o600)
	if err := os.Truncate(p, 1<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), "larger than the 64 MiB limit for a recipients file") {
		t.Errorf("a 1 GiB recipients file: %v", err)
	}
}

// rt39 F3: only a 5.1.x refusal says the mailbox does not exist. A full
// mailbox or a policy refusal is passed on with the next hop's code
// (Refusal) and not cached as unknown — before, both became a cached
// "550 5.1.1 user unknown" for negative_ttl. A stale positive answer
// does not override such a refusal either: the next hop did answer.
func TestCalloutPassesOnRefusalsThatAreNotUnknown(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	replies := map[string]string{
		"full@corp.test":  "552 5.2.2 mailbox full",
		"pol@corp.test":   "550 5.7.1 policy refusal\x01",
		"bare@corp.test":  "554 no thanks",
		"gone@corp.test":  "550 5.1.1 no such user",
		"moved@corp.test": "551 5.1.6 moved",
	}
	calls := map[string]int{}
	var mu sync.Mutex
	v := verifierFunc(func(_ context.Context, a string) (Verdict, string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[a]++
		if r, ok := replies[a]; ok {
			return Unknown, r, nil
		}
		return Known, "250 2.1.5 ok", nil
	})
	cache := &memCache{m: map[string]Entry{}}
	c := NewCallout(CalloutConfig{Verifier: v, Cache: cache, Now: clk.Now})
	want := map[string]*Refusal{
		"full@corp.test": {Code: 552, Enhanced: [3]int{5, 2, 2}, Text: "mailbox full"},
		"pol@corp.test":  {Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "policy refusal"},
		"bare@corp.test": {Code: 554, Enhanced: [3]int{5, 0, 0}, Text: "no thanks"},
	}
	for range 2 {
		for a, w := range want {
			verdict, err := c.Lookup(ctx, a)
			var rf *Refusal
			if verdict != CannotDecide || !errors.As(err, &rf) || *rf != *w {
				t.Errorf("%s: %v %v, want refusal %+v", a, verdict, err, w)
			}
		}
		for _, a := range []string{"gone@corp.test", "moved@corp.test"} {
			if verdict, err := c.Lookup(ctx, a); verdict != Unknown || err != nil {
				t.Errorf("%s: %v %v, want unknown", a, verdict, err)
			}
		}
	}
	for a := range want {
		if _, ok := cache.m[a]; ok || calls[a] != 2 {
			t.Errorf("%s: cached %v, asked %d times (want not cached, asked each time)", a, ok, calls[a])
		}
	}
	if calls["gone@corp.test"] != 1 {
		t.Errorf("a 5.1.1 answer was not cached: asked %d times", calls["gone@corp.test"])
	}
	// A positive answer gone stale, then the mailbox is full: the
	// refusal is passed on, not the stale acceptance.
	if verdict, _ := c.Lookup(ctx, "ok@corp.test"); verdict != Known {
		t.Fatal("ok not known")
	}
	clk.Advance(8 * 24 * time.Hour)
	replies["ok@corp.test"] = "552 5.2.2 mailbox full"
	if verdict, err := c.Lookup(ctx, "ok@corp.test"); verdict != CannotDecide || err == nil {
		t.Errorf("stale positive answer over a refusal: %v %v", verdict, err)
	}
}

// The callout cache is keyed by mailaddr.AddrKey (an internationalised
// domain as its A-label); an answer an earlier release kept under the
// address lower-cased or ASCII-folded is still used, not asked again.
func TestCalloutCacheEarlierKeyForms(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	h := &hub{known: map[string]bool{}}
	cache := &memCache{m: map[string]Entry{
		"anna@bücher.example": {Known: true, Checked: clk.Now()}, // strings.ToLower of ANNA@BÜCHER.example
	}}
	c := NewCallout(CalloutConfig{Verifier: h, Cache: cache, Key: ownedKey, Now: clk.Now})
	if v, err := c.Lookup(ctx, "ANNA@BÜCHER.example"); v != Known || err != nil || h.calls != 0 {
		t.Fatalf("an answer kept by an earlier release: %v %v, %d callouts", v, err, h.calls)
	}
	// Written under the one key: both forms of the address find it.
	if v, _ := c.Lookup(ctx, "ben@Bücher.example"); v != Unknown || h.calls != 1 {
		t.Fatalf("first answer for ben: %v, %d callouts", v, h.calls)
	}
	if _, ok := cache.m["ben@xn--bcher-kva.example"]; !ok {
		t.Errorf("not kept under the A-label form: %v", cache.m)
	}
	if v, _ := c.Lookup(ctx, "ben@xn--bcher-kva.example"); v != Unknown || h.calls != 1 {
		t.Errorf("the other form asked again: %v, %d callouts", v, h.calls)
	}
}

// ownedKey keys addresses as RCPT does for domains this organisation is
// authoritative for (the local part in ASCII case): the callout tests'
// corp.test and bücher.example are.
func ownedKey(a string) string { return mailaddr.RcptKey(a, true) }

// SMTP-6 (front38 F4's sibling): a domain's dots are named in the
// recipients file as RCPT names them (mailaddr.DomainDots, one reading):
// two in a row, at the end too, and a leading one.
func TestParseFileNamesDomainDots(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@corp..test\n", "r.txt:1: \"alice@corp..test\": bad domain: domain has two dots in a row"},
		{"alice@example.test..\n", "r.txt:1: \"alice@example.test..\": bad domain: domain has two dots in a row"},
		{"@.corp.test\n", "r.txt:1: \"@.corp.test\": bad domain: domain starts with a dot"},
	} {
		_, err := ParseFile([]byte(tc.in), "r.txt")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}
