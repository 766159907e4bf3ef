package queue

import (
	"bufio"
	"context"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// smtpHops is a Deliverer and Planner that speaks SMTP over loopback to
// the next hop its recipient's domain names (addrs): a recipient's
// domain is its destination, with the default window (Max 0).
type smtpHops struct {
	addrs map[string]string
	mu    sync.Mutex
	done  map[string]int
}

func (h *smtpHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	return []Job{{Dest: "mx/" + d, Queue: "mx:" + d, Rcpts: rcpts}}
}

func (h *smtpHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	out := make([]Result, len(rcpts))
	fail := func(err error) []Result {
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:" + d, Reply: "451 4.4.2 " + err.Error()}
		}
		return out
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", h.addrs[d])
	if err != nil {
		return fail(err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, "mx."+d) // a hung next hop holds us here, at its greeting
	if err != nil {
		conn.Close()
		return fail(err)
	}
	defer c.Close()
	if err := c.Mail(m.From); err != nil {
		return fail(err)
	}
	for _, i := range rcpts {
		if err := c.Rcpt(m.Rcpts[i].Addr); err != nil {
			return fail(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail(err)
	}
	w.Write(body)
	if err := w.Close(); err != nil {
		return fail(err)
	}
	c.Quit()
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:" + d, Reply: "250 2.0.0 queued"}
	}
	h.mu.Lock()
	h.done[d] += len(rcpts)
	h.mu.Unlock()
	return out
}

// hangingHop accepts connections and never greets; it counts the ones
// it holds open.
func hangingHop(t *testing.T) (addr string, open *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open = new(atomic.Int32)
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer open.Add(-1)
				c.Read(make([]byte, 1)) // until the client gives up
				c.Close()
			}()
		}
	}()
	return ln.Addr().String(), open
}

// healthyHop is a minimal SMTP server that takes every message.
func healthyHop(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveHop(c, "220 fast.test ESMTP", 20*time.Second, nil)
		}
	}()
	return ln.Addr().String()
}

// serveHop speaks SMTP on c as a next hop that takes every message: it
// greets with greet, ends the session after limit, and closes c.
// atData, when not nil, runs once a message's data is read, before its
// 250.
func serveHop(c net.Conn, greet string, limit time.Duration, atData func()) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	r := bufio.NewReader(c)
	say := func(l string) { c.Write([]byte(l + "\r\n")) }
	say(greet)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.SplitN(strings.TrimSpace(line), " ", 2)[0]) {
		case "EHLO", "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			say("250 ok")
		case "DATA":
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			if atData != nil {
				atData()
			}
			say("250 2.0.0 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

// hopsTo is an smtpHops relaying each domain of addrs to its address.
func hopsTo(addrs map[string]string) *smtpHops {
	return &smtpHops{addrs: addrs, done: map[string]int{}}
}

// delivered is how many recipients of domain d were relayed.
func (h *smtpHops) delivered(d string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done[d]
}

// hopRig is a Manager over store s relaying over SMTP to loopback next
// hops (h), on a fake clock that only the test moves.
type hopRig struct {
	s   *Store
	clk *clock.Fake
	h   *smtpHops
	q   *Manager
	ctx context.Context
}

// startHopRig starts a Manager over s with cfg (its Clock a fake one at
// the time now) relaying to the next hops of addrs, stopped when the
// test ends. A destination named in max has that window of its own
// (windowHops).
func startHopRig(t *testing.T, s *Store, addrs map[string]string, max map[string]int, cfg ManagerConfig) *hopRig {
	t.Helper()
	r := &hopRig{s: s, clk: clock.NewFake(time.Now()), h: hopsTo(addrs)}
	cfg.Clock = r.clk
	var d Deliverer = r.h
	if max != nil {
		d = &windowHops{smtpHops: r.h, max: max}
	}
	r.q, r.ctx = startManager(t, s, d, cfg)
	return r
}

// submit submits n messages from a@example.org to rcpt.
func (r *hopRig) submit(t *testing.T, n int, rcpt string) {
	t.Helper()
	for range n {
		if err := r.q.Submit(r.ctx, msg(r.s, "a@example.org", rcpt), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
}

// deliverFirst submits one message to x@d and waits until its next hop
// took it (the good session of a turnsHungHop).
func (r *hopRig) deliverFirst(t *testing.T, d string) {
	t.Helper()
	r.submit(t, 1, "x@"+d)
	waitFor(t, "the first message to "+d+" delivered", func() bool { return r.h.delivered(d) == 1 })
}

// SPEC Q-6 (no head-of-line blocking): with an active set of 4 and a new
// destination's window of 5, six messages to a next hop that hangs at
// its greeting do not take every slot: a message to a healthy next hop
// submitted after them is delivered while the hung sessions still hang
// (before, all four slots hung until the command timeout, and the
// healthy mail waited for it). The clock never moves: no timeout, no
// retry step can be what lets the healthy mail through.
func TestHungDestinationLeavesAnActiveSlot(t *testing.T) {
	slow, open := hangingHop(t)
	r := startHopRig(t, openTest(t), map[string]string{"slow.test": slow, "fast.test": healthyHop(t)}, nil,
		ManagerConfig{MaxActive: 4, Scheduler: SchedulerConfig{InitialWindow: 5}})
	q := r.q
	r.submit(t, 6, "x@slow.test")
	waitFor(t, "the hung next hop holding sessions", func() bool { return open.Load() >= 3 })
	r.submit(t, 1, "y@fast.test")
	waitFor(t, "the healthy message delivered while the hung sessions hang", func() bool { return r.h.delivered("fast.test") == 1 })
	if n := open.Load(); n < 3 {
		t.Fatalf("the hung next hop holds %d sessions: the healthy mail went through only after they ended", n)
	}
	for _, d := range q.Destinations() {
		if d.Name == "mx/slow.test" && d.Running >= 4 {
			t.Fatalf("the hung destination runs %d jobs: every slot of the active set of 4", d.Running)
		}
	}
}
