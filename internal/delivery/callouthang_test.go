package delivery

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/recipients"
)

// silentHosts listens on n addresses of 127.0.0.<first>… at one port,
// accepts and never answers (no greeting): a next hop that hangs.
func silentHosts(t *testing.T, first, n int) []string {
	t.Helper()
	var addrs []string
	port := "0"
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0."+strconv.Itoa(first+i), port))
		if err != nil {
			t.Fatal(err)
		}
		port = portOf(ln.Addr().String())
		addrs = append(addrs, ln.Addr().String())
		var mu sync.Mutex
		var conns []net.Conn
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never written to
				mu.Unlock()
			}
		}()
	}
	return addrs
}

type nopCache struct{}

func (nopCache) GetRecipient(string) (recipients.Entry, bool, error) {
	return recipients.Entry{}, false, nil
}
func (nopCache) PutRecipient(context.Context, string, recipients.Entry, int) error {
	return nil
}
func (nopCache) PruneRecipients(context.Context, time.Time, time.Time) (int, error) { return 0, nil }

// recipients.callout.timeout bounds a whole callout — every host it
// tries, each connect, greeting and command — not each step: three
// smart hosts that accept and never greet cost the timeout once, not a
// command timeout per host (SMTP-6).
func TestCalloutTimeoutBoundsTheWholeLookup(t *testing.T) {
	hosts := silentHosts(t, 160, 3)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, config.SendConnector{Name: "to-hub",
		AddressSpaces: []config.AddressSpace{{Domain: "relay.test", Cost: 1}}, SmartHosts: hosts, TLS: config.TLSNone})
	c := recipients.NewCallout(recipients.CalloutConfig{Verifier: d, Cache: nopCache{}, Timeout: time.Second})
	start := time.Now()
	v, err := c.Lookup(context.Background(), "alice@relay.test")
	took := time.Since(start)
	if v != recipients.CannotDecide || err == nil {
		t.Fatalf("a hanging next hop: %v %v, want cannot decide", v, err)
	}
	// The command timeout is 5 s a host; the callout's 1 s bounds all.
	if took > 3*time.Second {
		t.Fatalf("the callout took %v with a timeout of 1s", took)
	}
}
