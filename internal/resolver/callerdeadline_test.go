package resolver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A caller's own deadline, shorter than dns.timeout, that ends the wait
// on a silent server is said as the caller's cut ("context: context
// deadline exceeded"), every time: never the socket's "i/o timeout",
// which the read's deadline (set to the caller's) may return before the
// context's own timer has marked it done — a race whose outcome the
// error must not show.
func TestCallerDeadlineSaidAsContextNotIOTimeout(t *testing.T) {
	srv := dnstest.StartOn(t, "127.0.0.127:39311", "quiet.test. 60 IN MX 10 mx.quiet.test.")
	srv.Drop("quiet.test")
	c, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 5 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		_, err := c.LookupMX(ctx, "quiet.test")
		cancel()
		if err == nil || !strings.HasSuffix(err.Error(), "context: context deadline exceeded") {
			t.Fatalf("try %d: %v, want the caller's cut (context: context deadline exceeded)", i, err)
		}
	}
}
