package resolver_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
)

// A server that answers over UDP with TC set, late, and then sends
// nothing over TCP is a server that sent no answer: the lookup's own
// bound (Budget) that ends the TCP wait is said as dns.timeout, a
// temporary timeout — never "context deadline exceeded", a caller's cut
// no caller made.
func TestNoAnswerOverTCPAfterTruncatedReplyNamesDNSTimeout(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.127:9312")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := net.Listen("tcp", "127.0.0.127:9312")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // UDP: every question answered truncated, after 200ms
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			r := new(dns.Msg)
			r.SetReply(q)
			r.Truncated = true
			p, _ := r.Pack()
			time.Sleep(200 * time.Millisecond)
			pc.WriteTo(p, from)
		}
	}()
	go func() { // TCP: accepted, never answered
		var held []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	c, err := resolver.New(resolver.Config{Servers: []string{"127.0.0.127:9312"}, Timeout: 400 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	cache := resolver.NewCache(c, resolver.CacheConfig{Budget: c.Budget()})
	for i := range 2 {
		var r resolver.Resolver = c
		if i == 1 {
			r = cache // its own bound of the lookup it shares is the lookup's
		}
		_, err = r.LookupMX(context.Background(), "big.test")
		want := "no answer from 127.0.0.127:9312 within 400ms (dns.timeout)"
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("try %d: %v, want it to end %q", i, err, want)
		}
		if de := dnsErr(t, err); !de.IsTimeout || !de.IsTemporary {
			t.Errorf("try %d: %+v, want a temporary timeout", i, de)
		}
	}
}
