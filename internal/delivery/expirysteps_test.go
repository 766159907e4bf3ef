package delivery

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
	"umbra/internal/tlspolicy"
)

// askWatch is a resolver that signals asked when a lookup of name (of
// qtype, for Lookup; 0 for LookupMX and LookupHost) begins.
type askWatch struct {
	resolver.Resolver
	name  string
	qtype uint16
	asked chan struct{}
	once  sync.Once
}

func (r *askWatch) saw(name string, qtype uint16) {
	if strings.TrimSuffix(strings.ToLower(name), ".") == r.name && qtype == r.qtype {
		r.once.Do(func() { close(r.asked) })
	}
}

func (r *askWatch) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	r.saw(name, dns.TypeMX)
	return r.Resolver.LookupMX(ctx, name)
}

func (r *askWatch) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.saw(host, dns.TypeA)
	return r.Resolver.LookupHost(ctx, host)
}

func (r *askWatch) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.saw(name, dns.TypeTXT)
	return r.Resolver.LookupTXT(ctx, name)
}

func (r *askWatch) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	r.saw(name, qtype)
	return r.Resolver.Lookup(ctx, name, qtype)
}

// Q-3 (sched26 item 1): README "an attempt running at the expiry (a
// retry …) sends nothing more of the message", queue expirycut.go "the
// deliverer … closes a session still opening … when ExpiryReached
// fires". Every step of a retry before its data is cut at the expiry,
// not only the session's opening: the destination's MX lookup, an MX
// host's address lookup, the MTA-STS TXT and TLSA lookups, and the
// XSHADOW command of a shadow session — each hung here (a DNS server on
// loopback that never answers, a next hop that never answers XSHADOW)
// for far longer than the test waits. At the expiry the attempt ends at
// once with its recipients answered ExpiredUnsentReply, nothing sent.
func TestExpiryCutsEveryStepBeforeData(t *testing.T) {
	for _, tc := range []struct {
		name        string
		dom         string
		drop        string // names never answered
		watch       string // the lookup (name) that hangs
		qtype       uint16
		dane, sts   bool
		secure      bool
		xshadowHang bool
		stop        bool // the server's stop comes, not the expiry
	}{
		{name: "MX lookup", dom: "mxhang.test", drop: "mxhang.test", watch: "mxhang.test", qtype: dns.TypeMX},
		{name: "address lookup", dom: "addrhang.test", drop: "mx1.addrhang.test", watch: "mx1.addrhang.test", qtype: dns.TypeA},
		{name: "MTA-STS TXT lookup", dom: "stshang.test", drop: "_mta-sts.stshang.test", watch: "_mta-sts.stshang.test", qtype: dns.TypeTXT, sts: true},
		{name: "TLSA lookup", dom: "tlsahang.test", drop: "_tcp.mx1.tlsahang.test", watch: "_PORT._tcp.mx1.tlsahang.test", qtype: dns.TypeTLSA, dane: true, secure: true},
		{name: "XSHADOW", dom: "shadowhang.test", xshadowHang: true},
		// Its sibling: the stop cuts the XSHADOW wait as it cuts an opening.
		{name: "XSHADOW at the stop", dom: "shadowhang.test", xshadowHang: true, stop: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The next hop: greets, offers XSHADOW, and never answers it
			// (it never gets a connection in the lookup cases).
			xshadow := make(chan struct{}, 1)
			hop := testsupport.Serve(t, "127.0.0.180:0", func(c net.Conn) {
				go func() {
					r := bufio.NewReader(c)
					io.WriteString(c, "220 hop.test ESMTP\r\n")
					for {
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
						case strings.HasPrefix(cmd, "EHLO"):
							io.WriteString(c, "250-hop.test\r\n250-XSHADOW 20\r\n250 PIPELINING\r\n")
						case strings.HasPrefix(cmd, "XSHADOW"):
							select {
							case xshadow <- struct{}{}:
							default:
							}
							io.Copy(io.Discard, r) // never answered
							return
						case strings.HasPrefix(cmd, "QUIT"):
							io.WriteString(c, "221 bye\r\n")
							return
						default:
							io.WriteString(c, "250 ok\r\n")
						}
					}
				}()
			})
			port := portOf(hop.Addr())
			srv := dnstest.Start(t,
				tc.dom+". 300 IN MX 10 mx1."+tc.dom+".",
				"mx1."+tc.dom+". 300 IN A 127.0.0.180",
			)
			if tc.drop != "" {
				srv.Drop(tc.drop)
			}
			if tc.secure {
				srv.Secure(tc.dom)
			}
			cl, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Hour, Attempts: 1, TrustAD: true})
			if err != nil {
				t.Fatal(err)
			}
			// Through the cache, as a server's resolver is (cmd/umbra
			// dns.go): a caller that gives up is let go at once.
			res := &askWatch{Resolver: resolver.NewCache(cl, resolver.CacheConfig{Budget: time.Hour}), name: strings.Replace(tc.watch, "PORT", port, 1), qtype: tc.qtype, asked: make(chan struct{})}
			sc := mxConnector(port)
			sc.TLS = config.TLSNone
			if tc.xshadowHang {
				sc.SendXShadow = true
			}
			cfg := Config{Hostname: "umbra.test", SendConnectors: []config.SendConnector{sc}, Resolver: res,
				Routing:        routing.NewTable(nil, []routing.Connector{{Name: sc.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}}),
				ConnectTimeout: time.Hour, CommandTimeout: time.Hour, DataTimeout: time.Hour, MXLookupTimeout: time.Hour,
				ShadowServerID: "umbra.test"}
			if tc.dane || tc.sts {
				store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { store.Close() })
				cfg.TLSPolicy = tlspolicy.New(tlspolicy.Config{Resolver: res, DANE: tc.dane, MTASTS: tc.sts, Store: store, FetchTimeout: time.Hour})
			}
			d, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)

			var past atomic.Bool
			reached := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ectx := queue.WithExpiryCheck(ctx, past.Load, reached)
			m := message("a@" + tc.dom)
			m.Attempts = 1
			got := make(chan []queue.Result, 1)
			go func() { got <- d.Deliver(ectx, m, body, all(m)) }()
			hung := res.asked
			if tc.xshadowHang {
				hung = xshadow
			}
			select {
			case <-hung:
			case r := <-got:
				t.Fatalf("the attempt ended before the %s hung: %+v", tc.name, r)
			case <-time.After(10 * time.Second):
				t.Fatalf("the attempt never came to the %s", tc.name)
			}
			if tc.stop {
				cancel()
			} else {
				past.Store(true)
				close(reached) // the message's expiry
			}
			select {
			case r := <-got:
				if tc.stop {
					if len(r) != 1 || r[0].Outcome != queue.Deferred || !strings.HasPrefix(r[0].Reply, "451 4.3.2") {
						t.Errorf("stopped during the %s: %+v, want a 451 4.3.2 stop", tc.name, r)
					}
				} else if len(r) != 1 || r[0].Outcome != queue.Deferred || r[0].Reply != queue.ExpiredUnsentReply {
					t.Errorf("cut at the expiry during the %s: %+v, want %q", tc.name, r, queue.ExpiredUnsentReply)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("the %s held the attempt past the message's expiry", tc.name)
				cancel()
				<-got
			}
		})
	}
}
