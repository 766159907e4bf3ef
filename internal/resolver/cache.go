package resolver

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/panicline"
)

// Upstream is what a Cache asks on a miss: a Client.
type Upstream interface {
	Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error)
}

// CacheConfig configures a Cache.
type CacheConfig struct {
	// Size bounds the number of answers kept (default 10000); the least
	// recently used one is evicted first.
	Size int
	// MaxTTL caps how long a positive answer is kept, whatever its TTL
	// (default 1 h).
	MaxTTL time.Duration
	// NegativeTTL caps how long a denial (NXDOMAIN, NODATA) is kept; a
	// denial without an SOA, which RFC 2308 leaves uncacheable, is kept
	// this long too, so that a blocklist's "not listed" is not asked
	// again for every connection (default 5 min).
	NegativeTTL time.Duration
	// Budget bounds one upstream lookup shared by several callers, which
	// runs on past the caller that started it while another still waits
	// for it (default 30 s).
	Budget  time.Duration
	Clock   clock.Clock // default the system clock
	Metrics *Metrics    // nil: none
}

// Cache is the Resolver umbra runs with: answers of its Upstream kept by
// their TTL, denials by their negative TTL, concurrent identical
// questions asked upstream once. Temporary errors are never cached.
type Cache struct {
	up  Upstream
	cfg CacheConfig

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     *list.List                 // front: most recently used
	flights map[cacheKey]*flight

	hosts *hostsFile // the upstream Client's, when it has one

	log  *slog.Logger   // a recovered lookup's panic (SetLogger); nil: counted only
	gate panicline.Gate // one such line a minute
}

type cacheKey struct {
	name  string // lower-case, fully qualified
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	a       *Answer
	err     *net.DNSError // a denial; nil for an answer
	expires time.Time
}

type flight struct {
	done chan struct{}
	a    *Answer
	err  error
	// waiting is how many callers wait for it (under Cache.mu); when
	// the last one gives up, cancel ends the lookup.
	waiting int
	cancel  context.CancelFunc
	// outwaited (under Cache.mu): a caller gave up on it because its
	// own deadline ran out first — the server silent for as long as
	// that caller could wait. A flight its callers so ended is a
	// timeout, not "cancelled" (fly;
	// TestQueryEndedByItsCallersDeadlineCountedTimeout).
	outwaited bool
}

// NewCache returns a Cache in front of up.
func NewCache(up Upstream, cfg CacheConfig) *Cache {
	if cfg.Size <= 0 {
		cfg.Size = 10000
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Minute
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	c := &Cache{up: up, cfg: cfg, entries: map[cacheKey]*list.Element{}, lru: list.New(), flights: map[cacheKey]*flight{}}
	if cl, ok := up.(*Client); ok {
		c.hosts = cl.hosts // the same table, asked before the cache
	}
	return c
}

// Len returns the number of answers kept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Lookup implements Resolver. An answer comes whole from one response,
// with that response's Secure flag: a validated answer is never mixed
// with records of an unvalidated one.
func (c *Cache) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	k := cacheKey{name: nameKey(name), qtype: qtype} // one entry per name on the wire (nameKey)
	e, f, shared := c.join(ctx, k, name)
	if e != nil {
		c.cfg.Metrics.cache("hit")
		return e.result(name)
	}
	if shared {
		c.cfg.Metrics.cache("shared")
	} else {
		c.cfg.Metrics.cache("miss")
	}
	select {
	case <-f.done:
		if f.a == nil {
			return nil, f.err
		}
		a := *f.a // each caller its own Answer; the records are shared, read-only
		return &a, f.err
	case <-ctx.Done():
		c.mu.Lock()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			f.outwaited = true // the server did not answer in the time this caller had
		}
		if f.waiting--; f.waiting == 0 {
			// The last caller gave up: the lookup ends, and a question
			// asked from now on starts one of its own.
			if c.flights[k] == f {
				delete(c.flights, k)
			}
			f.cancel()
		}
		c.mu.Unlock()
		return nil, dnsError(name, "", "context: "+ctx.Err().Error(), true, false)
	}
}

// join, under the cache's lock, returns the fresh entry kept for k, or
// the flight to wait for (shared: one under way; else started here),
// the caller counted among its waiters. The unlock is deferred: a panic
// under the lock (the clock's, a defect) leaves the cache usable, the
// caller's goroutine recovering it (lookupIPAddr's) or not.
func (c *Cache) join(ctx context.Context, k cacheKey, name string) (*cacheEntry, *flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		if c.cfg.Clock.Now().Before(e.expires) {
			c.lru.MoveToFront(el)
			return e, nil, false
		}
		c.remove(el)
	}
	f, shared := c.flights[k]
	if !shared {
		// The lookup runs on its own bounded context: a caller that
		// gives up must not fail the others waiting for the answer.
		// It ends when the last of them gave up (no one is left to
		// use the answer, and a silent server would hold it for the
		// whole budget).
		// Its bound is the lookup's own (budgetEnd): a wait it ends is
		// a silent server's, as the client's own bound (ownBound).
		end := time.Now().Add(c.cfg.Budget)
		fctx, cancel := context.WithDeadline(context.WithValue(context.WithoutCancel(ctx), budgetEnd{}, end), end)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		c.flights[k] = f
		go c.fly(fctx, k, name, f)
	}
	f.waiting++
	return nil, f, shared
}

// fly runs the flight's lookup on the cache's own goroutine. A panic of
// its own code (the upstream's is recovered in ask) is recovered too, as
// ask's is: its callers get a temporary error (never kept), counted and
// logged; the flight is gone from the table and done is closed however
// it ends, so no caller waits for good and the next question is asked
// again.
func (c *Cache) fly(ctx context.Context, k cacheKey, name string, f *flight) {
	defer f.cancel()
	defer close(f.done)
	defer func() {
		if r := recover(); r != nil {
			c.recovered(name, r, debug.Stack())
			f.a, f.err = nil, panickedError(name)
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.flights[k] == f {
				delete(c.flights, k)
			}
		}
	}()
	start := c.cfg.Clock.Now()
	a, err := c.ask(ctx, k, name)
	c.mu.Lock()
	outwaited := f.outwaited
	c.mu.Unlock()
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled) && !outwaited:
		// Its callers all gave up (Lookup: the last one cancelled it)
		// and it ended for that: no failure of the server's, and no
		// answer's time (TestQueryEndedByItsCallersCountedCancelled).
		c.cfg.Metrics.abandoned(k.qtype)
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// A caller gave up for its own deadline (a DNS list or HELO
		// check's bound, shorter than the lookup's budget): the server
		// did not answer in the time it had — a timeout, the server's,
		// never "cancelled" (TestQueryEndedByItsCallersDeadlineCountedTimeout).
		c.cfg.Metrics.outwaited(k.qtype, c.cfg.Clock.Now().Sub(start))
	default:
		c.cfg.Metrics.query(k.qtype, a, err, c.cfg.Clock.Now().Sub(start))
	}
	f.a, f.err = a, err
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flights[k] == f { // not when its callers all gave up and another began
		delete(c.flights, k)
	}
	c.store(k, a, err)
}

// recovered counts a recovered panic of a lookup (umbra_dns_panics_total)
// and logs it at ERROR by panicline's rule (once a minute), with the
// name asked: never a response's content.
func (c *Cache) recovered(name string, r any, stack []byte) {
	c.cfg.Metrics.panicked()
	if c.log != nil {
		if line, ok := c.gate.Attrs(c.cfg.Clock.Now(), r, stack); ok {
			c.log.Error("dns lookup panicked", append([]any{"name", name}, line...)...)
		}
	}
}

// ask runs the upstream lookup of fly. A panic there (a defect, in the
// parsing of a response say: outside input) is recovered — no lock of
// the cache's is held, and the flight's end below runs as after an
// error: its callers get a temporary error (never kept), it is counted
// (umbra_dns_panics_total) and logged (once a minute: panicline), and
// the next question is asked again. Unrecovered, it ended the daemon,
// every session and delivery with it (TestCacheLookupPanicRecovered).
func (c *Cache) ask(ctx context.Context, k cacheKey, name string) (a *Answer, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.recovered(name, r, debug.Stack())
			a, err = nil, panickedError(name)
		}
	}()
	return c.up.Lookup(ctx, name, k.qtype)
}

// SetLogger sets where a recovered panic of a lookup is logged (at
// ERROR); before it is set, such a panic is only counted. Called once,
// before the cache is used.
func (c *Cache) SetLogger(log *slog.Logger) { c.log = log }

// store keeps an answer or a denial; temporary errors are not kept.
func (c *Cache) store(k cacheKey, a *Answer, err error) {
	var ttl time.Duration
	var denial *net.DNSError
	switch {
	case err == nil && a != nil:
		ttl = min(a.TTL, c.cfg.MaxTTL)
	case a != nil && errors.As(err, &denial) && denial.IsNotFound && !denial.IsTemporary:
		ttl = c.cfg.NegativeTTL
		if a.SOA {
			ttl = min(a.TTL, c.cfg.NegativeTTL)
		}
	default:
		return
	}
	if ttl <= 0 {
		return
	}
	if el, ok := c.entries[k]; ok {
		c.remove(el)
	}
	kept := *a
	e := &cacheEntry{key: k, a: &kept, err: denial, expires: c.cfg.Clock.Now().Add(ttl)}
	c.entries[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.cfg.Size {
		c.remove(c.lru.Back())
		c.cfg.Metrics.cache("evicted")
	}
}

func (c *Cache) remove(el *list.Element) {
	c.lru.Remove(el)
	delete(c.entries, el.Value.(*cacheEntry).key)
}

// result is a kept answer as Lookup returns it: a copy of the Answer
// (the records are shared, read-only) and a fresh error for a denial.
func (e *cacheEntry) result(name string) (*Answer, error) {
	a := *e.a
	if e.err != nil {
		de := *e.err
		de.Name = name
		return &a, &de
	}
	return &a, nil
}

// LookupMX implements Resolver: the MX records of name, by preference.
func (c *Cache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookupMX(ctx, c, name)
}

// LookupIPAddr implements Resolver: A and AAAA records.
func (c *Cache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookupIPAddr(ctx, c, c.hosts, host)
}

// LookupHost implements Resolver.
func (c *Cache) LookupHost(ctx context.Context, host string) ([]string, error) {
	return lookupHost(ctx, c, c.hosts, host)
}

// LookupTXT implements Resolver.
func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupTXT(ctx, c, name)
}

// LookupAddr implements Resolver.
func (c *Cache) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookupAddr(ctx, c, addr)
}
