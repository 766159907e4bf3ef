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

// EDGE-1, Q-3: a cancellation that lands between the dial and the
// exchange is kept. ask armed it as a deadline of now on the
// connection, and the DNS library's exchange then set the read and
// write deadlines to now + the client's timeout, overwriting it: the
// query waited the whole timeout (an hour here) at a silent server.
// The hook cancels after the dial and waits for the cancellation's
// callback to have run before the exchange begins.
func TestLookupCancelledBetweenDialAndExchangeEnds(t *testing.T) {
	silent := dnstest.Start(t)
	silent.Drop(".")
	c, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	resolver.SetAfterDial(func(dctx context.Context) {
		// Run after ask's own callback: AfterFuncs of one context run
		// each in a goroutine; this one waits for ask's to be done by
		// waiting for the context to end and then yielding a while.
		context.AfterFunc(dctx, func() { close(ran) })
		cancel()
		<-ran
		time.Sleep(50 * time.Millisecond)
	})
	t.Cleanup(func() { resolver.SetAfterDial(nil) })
	done := make(chan error, 1)
	go func() { _, err := c.Lookup(ctx, "hang.test", dns.TypeA); done <- err }()
	select {
	case err := <-done:
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsTemporary {
			t.Fatalf("cancelled lookup: %v, want a temporary *net.DNSError", err)
		}
	case <-time.After(time.Minute): // a bound on a hang, not a timing: the client's own timeout is an hour
		t.Fatal("the lookup cancelled between its dial and its exchange waited the client's timeout: the exchange's deadlines overwrote the cancellation")
	}
}
