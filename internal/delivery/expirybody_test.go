package delivery

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// Q-3 (rr25 sched24b F4): the checks a transaction makes itself when
// the next hop's replies come after the message's expiry, with no cut
// armed to close the session first (TestAttemptRunningAtExpirySendsNoBody
// reaches the cut, which closes the connection before either check
// runs). The expiry passes as the next hop reads the RCPT, before it
// answers 250: a lockstep transaction then ends before DATA with RSET;
// a pipelined one, whose DATA went with its RCPT, closes the connection
// after the 354 with no byte of the body (smtp.Client.SetBeforeBody).
// Either way the next hop has no message and the recipient is answered
// ExpiredUnsentReply (queue/expirycut.go). With either check left out,
// the body is sent and this fails.
func TestTransactionEndsBeforeBodyWhenRepliesComeAfterExpiry(t *testing.T) {
	for _, lockstep := range []bool{true, false} {
		t.Run(fmt.Sprintf("lockstep=%v", lockstep), func(t *testing.T) {
			var past atomic.Bool
			s := &tarpitRcpt{inRcpt: make(chan struct{}, 1), release: make(chan struct{}),
				atRcpt: func(to string) {
					if to == "e@slow.test" {
						past.Store(true) // the expiry, as the next hop holds the RCPT
					}
				}}
			ln := testsupport.Listen(t, "127.0.0.185:0")
			if lockstep {
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						go s.serveLockstep(c)
					}
				}()
				t.Cleanup(func() { ln.Close() })
			} else {
				srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &tarpitSession{s: s}, nil }))
				srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
				go srv.Serve(ln)
				t.Cleanup(func() { srv.Close() })
			}
			dns := &fakeDNS{mx: map[string][]*net.MX{"slow.test": {{Host: "mx.slow.test.", Pref: 10}}},
				hosts: map[string][]string{"mx.slow.test": {"127.0.0.185"}}}
			conn := mxConnector(portOf(ln.Addr().String()))
			conn.TLS = config.TLSNone
			table := routing.NewTable(nil, []routing.Connector{{Name: conn.Name, Enabled: true,
				AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
			d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn}, Resolver: dns,
				ConnectTimeout: 2 * time.Second, CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)
			m := message("e@slow.test")
			ctx := queue.WithExpiryCheck(context.Background(), past.Load, nil) // no cut armed
			res := d.Deliver(ctx, m, body, all(m))
			if len(res) != 1 || res[0].Reply != queue.ExpiredUnsentReply || res[0].Outcome != queue.Deferred {
				t.Errorf("results %+v, want the recipient answered %q", res, queue.ExpiredUnsentReply)
			}
			if n := s.sentTo("e@slow.test"); n != 0 {
				t.Fatalf("the next hop received the message %d times after its expiry", n)
			}
			s.mu.Lock()
			datas, rsets := s.datas, s.rsets
			s.mu.Unlock()
			if lockstep && (datas != 0 || rsets != 1) {
				t.Errorf("%d DATA, %d RSET: the transaction must end with RSET before DATA", datas, rsets)
			}
		})
	}
}
