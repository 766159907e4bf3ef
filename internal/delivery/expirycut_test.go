package delivery

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// expiryRig is a queue manager over a fresh store, started, delivering
// with d on a fake clock from t0 (2026-01-01): a retry every 5 s, the
// expiry at 30 s, delay notices after an hour; its events recorded.
type expiryRig struct {
	q      *queue.Manager
	store  *queue.Store
	d      *Deliverer
	clk    *clock.Fake
	ev     *eventRecorder
	t0     time.Time
	ctx    context.Context
	cancel context.CancelFunc
}

func startExpiryRig(t *testing.T, d *Deliverer) *expiryRig {
	t.Helper()
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &expiryRig{store: store, d: d, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ev: &eventRecorder{}}
	r.clk = clock.NewFake(r.t0)
	r.q = queue.NewManager(store, d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 8, Clock: r.clk, Events: r.ev,
		RetrySchedule: []time.Duration{5 * time.Second}, MessageExpiration: 30 * time.Second, DelayNotification: time.Hour})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.q.Start(r.ctx)
	return r
}

// stop cancels the manager, runs then (what lets its attempts end), waits
// for it and closes the deliverer and the store.
func (r *expiryRig) stop(then ...func()) {
	r.cancel()
	for _, f := range then {
		f()
	}
	r.q.Wait()
	r.d.Close()
	r.store.Close()
}

// tarpitRcpt is a next hop on loopback that answers the first RCPT of
// p@slow.test 451, holds the second until release (a tarpit), then
// accepts it; it records every message whose body it received, by
// recipients. With lockstep it does not offer PIPELINING (a server of
// its own, line by line).
type tarpitRcpt struct {
	mu       sync.Mutex
	rcpts    int
	inRcpt   chan struct{} // told when the held RCPT came
	release  chan struct{}
	bodies   [][]string      // the recipients of each message received
	datas    int             // DATA commands seen
	deferred int             // RCPTs of x@defer.test answered
	rsets    int             // RSET commands seen (serveLockstep)
	atRcpt   func(to string) // called as each RCPT comes, before its reply
}

func (s *tarpitRcpt) rcpt(to string) error {
	if s.atRcpt != nil {
		s.atRcpt(to)
	}
	switch to {
	case "x@defer.test": // always deferred
		s.mu.Lock()
		s.deferred++
		s.mu.Unlock()
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "busy"}
	case "z@slow.test": // held until release
		select {
		case s.inRcpt <- struct{}{}:
		default:
		}
		<-s.release
		return nil
	case "p@slow.test":
	default:
		return nil
	}
	s.mu.Lock()
	s.rcpts++
	n := s.rcpts
	s.mu.Unlock()
	switch n {
	case 1:
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "not yet"}
	case 2:
		s.inRcpt <- struct{}{}
		<-s.release
	}
	return nil
}

func (s *tarpitRcpt) got(rcpts []string) {
	s.mu.Lock()
	s.bodies = append(s.bodies, rcpts)
	s.mu.Unlock()
}

// sentTo counts the messages the next hop received for addr.
func (s *tarpitRcpt) sentTo(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.bodies {
		for _, r := range b {
			if r == addr {
				n++
			}
		}
	}
	return n
}

type tarpitSession struct {
	s     *tarpitRcpt
	rcpts []string
}

func (ss *tarpitSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (ss *tarpitSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if err := ss.s.rcpt(to); err != nil {
		return err
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}
func (ss *tarpitSession) Data(r io.Reader) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	ss.s.got(ss.rcpts)
	return nil
}
func (ss *tarpitSession) Reset()        { ss.rcpts = nil }
func (ss *tarpitSession) Logout() error { return nil }

// serveLockstep answers one connection as an SMTP server without
// PIPELINING: each command read, then its reply.
func (s *tarpitRcpt) serveLockstep(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "220 slow.test ESMTP\r\n")
	var rcpts []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			fmt.Fprintf(c, "250-slow.test\r\n250 8BITMIME\r\n")
		case strings.HasPrefix(cmd, "HELO"):
			fmt.Fprintf(c, "250 slow.test\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			rcpts = nil
			fmt.Fprintf(c, "250 2.1.0 ok\r\n")
		case strings.HasPrefix(cmd, "RCPT"):
			to := strings.ToLower(strings.TrimSpace(line[len("RCPT TO:"):]))
			to = strings.Trim(strings.Fields(to)[0], "<>")
			if err := s.rcpt(to); err != nil {
				fmt.Fprintf(c, "451 4.3.0 not yet\r\n")
				continue
			}
			rcpts = append(rcpts, to)
			fmt.Fprintf(c, "250 2.1.5 ok\r\n")
		case cmd == "DATA":
			s.mu.Lock()
			s.datas++
			s.mu.Unlock()
			fmt.Fprintf(c, "354 go ahead\r\n")
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.got(rcpts)
			fmt.Fprintf(c, "250 2.0.0 queued\r\n")
		case cmd == "RSET":
			rcpts = nil
			s.mu.Lock()
			s.rsets++
			s.mu.Unlock()
			fmt.Fprintf(c, "250 2.0.0 ok\r\n")
		case cmd == "NOOP":
			fmt.Fprintf(c, "250 2.0.0 ok\r\n")
		case cmd == "QUIT":
			fmt.Fprintf(c, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "502 5.5.2 unknown\r\n")
		}
	}
}

// An attempt that started before the message's expiry, whose next hop
// holds its RCPT until after it (a tarpit) and then accepts, sends
// nothing of the message: the transaction ends before DATA (RSET; on a
// pipelined one the connection closes after the 354, before the body),
// and the recipient fails as expired with the failure DSN — no message
// is delivered after the Will-Retry-Until its delay DSN gave (README,
// Delivery; DSN timing, rt24d F3: the body went 28 s after it).
func TestAttemptRunningAtExpirySendsNoBody(t *testing.T) {
	for _, lockstep := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockstep=%v", lockstep), func(t *testing.T) {
			s := &tarpitRcpt{inRcpt: make(chan struct{}, 1), release: make(chan struct{})}
			var addr string
			if lockstep {
				ln := testsupport.Listen(t, "127.0.0.185:0")
				addr = ln.Addr().String()
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
				ln := testsupport.Listen(t, "127.0.0.185:0")
				addr = ln.Addr().String()
				go srv.Serve(ln)
				t.Cleanup(func() { srv.Close() })
			}
			var open sync.Once
			release := func() { open.Do(func() { close(s.release) }) }
			defer release()
			dns := &fakeDNS{mx: map[string][]*net.MX{"slow.test": {{Host: "mx.slow.test.", Pref: 10}},
				"example.org": {{Host: "mx.slow.test.", Pref: 10}}},
				hosts: map[string][]string{"mx.slow.test": {"127.0.0.185"}}}
			conn := mxConnector(portOf(addr))
			conn.TLS = config.TLSNone
			table := routing.NewTable(nil, []routing.Connector{{Name: conn.Name, Enabled: true,
				AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
			d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn}, Resolver: dns,
				ConnectTimeout: 2 * time.Second, CommandTimeout: time.Minute, DataTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			r := startExpiryRig(t, d)
			q, ctx, clk, ev, t0 := r.q, r.ctx, r.clk, r.ev, r.t0
			defer func() {
				release()
				r.stop()
			}()
			m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Arrived: t0, Rcpts: []queue.Recipient{{Addr: "p@slow.test"}}}
			if err := q.Submit(ctx, m, body); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			for !ev.has("defer 451 4.3.0") {
				if time.Now().After(deadline) {
					t.Fatalf("no first deferral: %q", ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			// The second attempt, before the expiry: its RCPT is held.
			for {
				clk.Advance(time.Second)
				select {
				case <-s.inRcpt:
				case <-time.After(20 * time.Millisecond):
					if time.Now().After(deadline) {
						t.Fatal("no second attempt")
					}
					continue
				}
				break
			}
			if now := clk.Now(); !now.Before(t0.Add(30 * time.Second)) {
				t.Fatalf("second attempt at %v, before the expiry wanted", now.Sub(t0))
			}
			clk.Advance(30 * time.Second) // past the expiry, the RCPT still held
			release()                     // now the next hop accepts the recipient
			for !ev.has("fail 550 5.4.7") {
				if time.Now().After(deadline) {
					t.Fatalf("the recipient did not fail as expired: %q", ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			for s.sentTo("sender@example.org") == 0 { // the failure DSN
				if time.Now().After(deadline) {
					t.Fatalf("no failure DSN: %q", ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if n := s.sentTo("p@slow.test"); n != 0 {
				t.Fatalf("the message was delivered %d times after its expiry", n)
			}
			if lockstep {
				s.mu.Lock()
				datas := s.datas
				s.mu.Unlock()
				if datas != 1 { // the DSN's only
					t.Errorf("%d DATA commands, want 1 (the DSN's): the expired message's transaction must end before DATA", datas)
				}
			}
		})
	}
}

// A message to two destinations, one of which holds its RCPT (a tarpit
// for longer than the message has left) while the other defers it,
// fails as expired at its expiry: the held session, which has not begun
// the body, is ended then, and the failure DSN reports both recipients
// without waiting for the tarpit — nothing is sent to the tarpit's
// recipient (DSN timing, README Delivery; rt24d F2: the expiry DSN went
// 50 s late, "expired after 1m50s" for 60 s).
func TestExpiryDoesNotWaitForStalledDestination(t *testing.T) {
	s := &tarpitRcpt{inRcpt: make(chan struct{}, 1), release: make(chan struct{})}
	// Two next hops (one server each, one ports each): the tarpit's and
	// the other's, which also takes the DSN.
	var lns []net.Listener
	for range 2 {
		srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &tarpitSession{s: s}, nil }))
		srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
		ln := testsupport.Listen(t, "127.0.0.185:0")
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		lns = append(lns, ln)
	}
	var open sync.Once
	release := func() { open.Do(func() { close(s.release) }) }
	defer release()
	dns := &fakeDNS{mx: map[string][]*net.MX{"slow.test": {{Host: "mx.slow.test.", Pref: 10}},
		"defer.test": {{Host: "mx.defer.test.", Pref: 10}}, "example.org": {{Host: "mx.example.org.", Pref: 10}}},
		hosts: map[string][]string{"mx.slow.test": {"127.0.0.185"}, "mx.defer.test": {"127.0.0.185"}, "mx.example.org": {"127.0.0.185"}}}
	slow, other := mxConnector(portOf(lns[0].Addr().String())), mxConnector(portOf(lns[1].Addr().String()))
	slow.Name, slow.AddressSpaces, slow.TLS = "slow", []config.AddressSpace{{Domain: "slow.test", Cost: 1}}, config.TLSNone
	other.TLS = config.TLSNone
	table := routing.NewTable(nil, []routing.Connector{
		{Name: slow.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "slow.test", Cost: 1}}},
		{Name: other.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{slow, other}, Resolver: dns,
		ConnectTimeout: 2 * time.Second, CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := startExpiryRig(t, d)
	q, ctx, clk, ev, t0 := r.q, r.ctx, r.clk, r.ev, r.t0
	defer func() {
		release()
		r.stop()
	}()
	// Attempted once before (the tarpit's session is a retry): the
	// expiry may cut it (queue/expirycut.go).
	m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Arrived: t0, Attempts: 1,
		Rcpts: []queue.Recipient{{Addr: "x@defer.test"}, {Addr: "z@slow.test"}}}
	if err := q.Submit(ctx, m, body); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	select {
	case <-s.inRcpt:
	case <-time.After(20 * time.Second):
		t.Fatal("no session to the tarpit")
	}
	for {
		s.mu.Lock()
		n := s.deferred
		s.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("x@defer.test not tried: %q", ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	clk.Advance(30 * time.Second) // the expiry; the tarpit holds on
	for s.sentTo("sender@example.org") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failure DSN at the expiry while the tarpit held its session: %q", ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ev.mu.Lock()
	events := append([]string(nil), ev.events...)
	ev.mu.Unlock()
	fails := 0
	for _, e := range events {
		if strings.HasPrefix(e, "fail 550 5.4.7 message expired after 30s") {
			fails++
		}
	}
	if fails != 2 {
		t.Errorf("%d recipients failed as expired after 30s, want 2: %q", fails, events)
	}
	release()
	if n := s.sentTo("z@slow.test"); n != 0 {
		t.Errorf("the tarpit's recipient got the message %d times", n)
	}
}
