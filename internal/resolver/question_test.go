package resolver_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// liar answers every query over UDP with the query's id and a record for
// the name asked, but a question section changed by mangle: a reply to
// another question (a spoofed or misrouted one) that only the id would
// let through.
func liar(t *testing.T, mangle func(q *dns.Question) []dns.Question) (string, *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	n := new(atomic.Int32)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:k]) != nil || len(q.Question) != 1 {
				continue
			}
			n.Add(1)
			r := new(dns.Msg)
			r.SetReply(q)
			asked := q.Question[0]
			rr, _ := dns.NewRR(asked.Name + " 60 IN A 192.0.2.66")
			r.Answer = []dns.RR{rr}
			r.Question = mangle(&asked)
			out, err := r.Pack()
			if err != nil {
				continue
			}
			pc.WriteTo(out, from)
		}
	}()
	return pc.LocalAddr().String(), n
}

// A reply is used only when its question section is the query's —
// name (in any case), type and class — as well as its id: one that
// answers another question is no answer, the next server is asked, and
// with none left the lookup fails for now (never a denial, never the
// liar's address).
func TestReplyQuestionMustMatch(t *testing.T) {
	good := dnstest.Start(t, "a.test. 60 IN A 127.0.0.1")
	for name, mangle := range map[string]func(q *dns.Question) []dns.Question{
		"other name":   func(q *dns.Question) []dns.Question { q.Name = "evil.test."; return []dns.Question{*q} },
		"other type":   func(q *dns.Question) []dns.Question { q.Qtype = dns.TypeTXT; return []dns.Question{*q} },
		"other class":  func(q *dns.Question) []dns.Question { q.Qclass = dns.ClassCHAOS; return []dns.Question{*q} },
		"no question":  func(q *dns.Question) []dns.Question { return nil },
		"two of them":  func(q *dns.Question) []dns.Question { return []dns.Question{*q, *q} },
		"longer name":  func(q *dns.Question) []dns.Question { q.Name = "x." + q.Name; return []dns.Question{*q} },
		"shorter name": func(q *dns.Question) []dns.Question { q.Name = q.Name[2:]; return []dns.Question{*q} },
	} {
		t.Run(name, func(t *testing.T) {
			bad, asked := liar(t, mangle)
			c := newClientWith(t, bad, good.Addr)
			ips, err := c.LookupHost(context.Background(), "a.test")
			if err != nil || strings.Join(ips, ",") != "127.0.0.1" {
				t.Fatalf("with a good server after the liar: %v %v, want 127.0.0.1", ips, err)
			}
			if asked.Load() == 0 {
				t.Fatal("the liar was never asked: the test proves nothing")
			}
			alone := newClient(t, bad)
			_, err = alone.LookupHost(context.Background(), "a.test")
			if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound {
				t.Fatalf("the liar alone: %+v, want a temporary failure", de)
			}
		})
	}
	// The name compares without ASCII case (a server may echo 0x20 case).
	upper, _ := liar(t, func(q *dns.Question) []dns.Question { q.Name = strings.ToUpper(q.Name); return []dns.Question{*q} })
	if ips, err := newClient(t, upper).LookupHost(context.Background(), "a.test"); err != nil || strings.Join(ips, ",") != "192.0.2.66" {
		t.Fatalf("a question echoed in another case: %v %v", ips, err)
	}
}

func newClientWith(t *testing.T, addrs ...string) *resolver.Client {
	t.Helper()
	c, err := resolver.New(resolver.Config{Servers: addrs, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
