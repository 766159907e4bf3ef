package resolver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// EDGE-1, Q-3: a lookup is cut by its caller's context, not only by
// its own bounds. A delivery attempt cut by the stop or by the message's
// expiry cancels its context (no deadline): the query it waits on at a
// server that never answers ends then, with a temporary error, instead
// of running on for dns.timeout × attempts × servers. The client's
// timeout here is an hour, so a lookup that ignored the cancellation
// would not return within the test's bound.
func TestLookupEndsWhenItsContextIsCancelled(t *testing.T) {
	silent := dnstest.Start(t)
	silent.Drop(".")
	c, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: time.Hour, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, lookup := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Lookup MX", func(ctx context.Context) error { _, err := c.Lookup(ctx, "hang.test", dns.TypeMX); return err }},
		{"LookupHost", func(ctx context.Context) error { _, err := c.LookupHost(ctx, "mx.hang.test"); return err }},
	} {
		t.Run(lookup.name, func(t *testing.T) {
			asked := silent.Queries()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- lookup.run(ctx) }()
			for i := 0; silent.Queries() == asked; i++ { // the query is at the server
				if i == 10000 {
					t.Fatal("the lookup never reached the server")
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			select {
			case err := <-done:
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
					t.Fatalf("cancelled lookup: %v, want a temporary *net.DNSError", err)
				}
			case <-time.After(time.Minute): // a bound on a hang, not a timing: the client's own timeout is an hour
				t.Fatal("the lookup ran on after its context was cancelled")
			}
		})
	}
}

// held is an upstream that answers only when its context ends, and says
// when it was asked and when that was.
type held struct {
	asked chan struct{}
	ended chan struct{}
}

func (h *held) Lookup(ctx context.Context, name string, _ uint16) (*resolver.Answer, error) {
	h.asked <- struct{}{}
	<-ctx.Done()
	h.ended <- struct{}{}
	return nil, &net.DNSError{Err: "context: " + ctx.Err().Error(), Name: name, IsTemporary: true}
}

// EDGE-1: the cache's shared lookup runs on past a caller that gives up
// only for the others still waiting for it (TestCacheSingleFlight); when
// the last one gave up, it ends with them, instead of running on for the
// cache's budget (an hour here) at a silent server. A question asked
// after that starts a lookup of its own, never joins the ended one.
func TestCacheLookupEndsWithItsLastCaller(t *testing.T) {
	h := &held{asked: make(chan struct{}, 2), ended: make(chan struct{}, 2)}
	c, _, _ := newCache(t, h, resolver.CacheConfig{Budget: time.Hour})
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := c.LookupMX(ctx, "hang.test"); done <- err }()
		select {
		case <-h.asked:
		case <-time.After(time.Minute):
			t.Fatalf("round %d: the question was not asked upstream (joined an ended lookup?)", round)
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("a cancelled caller got an answer")
		}
		select {
		case <-h.ended:
		case <-time.After(time.Minute): // a bound on a hang: the budget is an hour
			t.Fatalf("round %d: the upstream lookup ran on after its last caller gave up", round)
		}
	}
}
