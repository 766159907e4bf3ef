package queue

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// stepHops relays over SMTP like smtpHops, to the operator's redirect
// target when a recipient has one (queue redirect), every failure a
// deferral.
type stepHops struct{ *smtpHops }

func (h stepHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	if r := m.Rcpts[rcpts[0]]; r.Redirect != "" {
		return []Job{{Dest: "redirect/" + r.Redirect, Queue: "redirect:" + r.Redirect, Rcpts: rcpts}}
	}
	return h.smtpHops.Plan(context.Background(), m, rcpts)
}

func (h stepHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	r := m.Rcpts[rcpts[0]]
	d, addr, queue := domainOf(r.Addr), h.addrs[domainOf(r.Addr)], "mx:"+domainOf(r.Addr)
	if r.Redirect != "" {
		addr, queue = r.Redirect, "redirect:"+r.Redirect
	}
	out := hopsTo(map[string]string{d: addr}).Deliver(ctx, m, body, rcpts)
	for k := range out {
		out[k].Queue = queue
	}
	return out
}

// deferringHop is an SMTP server at addr that answers 450 at RCPT
// ("rcpt") or 451 at the end of DATA ("data"); it counts its sessions.
func deferringHop(t *testing.T, addr, at string) *atomic.Int32 {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sessions := new(atomic.Int32)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sessions.Add(1)
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				c.Write([]byte("220 defer.test ESMTP\r\n"))
				buf := make([]byte, 4096)
				inData := false
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					for _, line := range strings.Split(strings.TrimRight(string(buf[:n]), "\r\n"), "\r\n") {
						v := strings.ToUpper(line)
						switch {
						case inData:
							if line == "." {
								inData = false
								c.Write([]byte("451 4.3.0 try again later\r\n"))
							}
						case strings.HasPrefix(v, "RCPT") && at == "rcpt":
							c.Write([]byte("450 4.2.1 mailbox busy\r\n"))
						case strings.HasPrefix(v, "DATA"):
							inData = true
							c.Write([]byte("354 go on\r\n"))
						case strings.HasPrefix(v, "QUIT"):
							c.Write([]byte("221 bye\r\n"))
							return
						default:
							c.Write([]byte("250 ok\r\n"))
						}
					}
				}
			}()
		}
	}()
	return sessions
}

// Q-4 (retry): an operator's retry — message retry, queue retry, flush,
// message resume, queue resume, queue redirect — uses no step of the
// retry schedule and never makes a message's next attempt later than it
// was. A message on the 40 s step of [20s, 40s, 1m], retried 5 s before
// that attempt was due, was due 40 s after the retry's failed attempt:
// 35 s later than before the retry (the attempt restarted the step from
// its own time). Whatever the retry's attempt meets — a 450 at RCPT, a
// 451 at the end of DATA, no server listening — the message stays due
// when it was.
func TestQ4OperatorRetryNeverMovesTheNextAttemptLater(t *testing.T) {
	const hop, other, closed = "127.0.0.125:9511", "127.0.0.125:9512", "127.0.0.125:9513"
	deferringHop(t, hop, "rcpt")
	dataHop := "127.0.0.125:9514"
	deferringHop(t, dataHop, "data")
	deferringHop(t, other, "rcpt")
	actions := []struct {
		name string
		do   func(ctx context.Context, q *Manager, id ID) error
	}{
		{"message retry", func(ctx context.Context, q *Manager, id ID) error { return q.RetryMessage(ctx, id) }},
		{"queue flush", func(ctx context.Context, q *Manager, id ID) error { _, err := q.Flush(ctx); return err }},
		{"queue retry", func(ctx context.Context, q *Manager, id ID) error {
			_, err := q.RetryQueue(ctx, "mx:r.test")
			return err
		}},
		{"message resume", func(ctx context.Context, q *Manager, id ID) error {
			if err := q.SuspendMessage(ctx, id); err != nil {
				return err
			}
			return q.ResumeMessage(ctx, id)
		}},
		{"queue resume", func(ctx context.Context, q *Manager, id ID) error {
			if err := q.SuspendQueue(ctx, "mx:r.test"); err != nil {
				return err
			}
			_, err := q.ResumeQueue(ctx, "mx:r.test")
			return err
		}},
		{"queue redirect", func(ctx context.Context, q *Manager, id ID) error {
			_, err := q.RedirectQueue(ctx, "mx:r.test", other)
			return err
		}},
	}
	for _, where := range []struct{ name, addr string }{{"450 at RCPT", hop}, {"451 at DATA", dataHop}, {"no server", closed}} {
		for _, a := range actions {
			t.Run(where.name+"/"+a.name, func(t *testing.T) {
				s, clk := openTest(t), clock.NewFake(time.Now())
				q, ctx := startManager(t, s, stepHops{hopsTo(map[string]string{"r.test": where.addr})}, ManagerConfig{MaxActive: 2, Clock: clk,
					RetrySchedule: []time.Duration{20 * time.Second, 40 * time.Second, time.Minute}, MessageExpiration: 24 * time.Hour})
				m := msg(s, "a@example.org", "x@r.test")
				if err := q.Submit(ctx, m, []byte(body)); err != nil {
					t.Fatal(err)
				}
				get := func() *Message {
					var got *Message
					_ = s.View(func(tx *Tx) error { got, _ = tx.Get(m.ID); return nil })
					return got
				}
				waitFor(t, "the first attempt deferred", func() bool {
					g := get()
					return g != nil && g.State == Ready && g.Attempts == 1
				})
				clk.Advance(get().NextAttempt.Sub(clk.Now()))
				waitFor(t, "the second attempt deferred", func() bool {
					g := get()
					return g != nil && g.State == Ready && g.Attempts == 2
				})
				before := get().NextAttempt
				clk.Advance(before.Sub(clk.Now()) - 5*time.Second) // into the 40 s step, 5 s before it ends
				if err := a.do(ctx, q, m.ID); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the operator's attempt deferred", func() bool {
					g := get()
					return g != nil && g.State == Ready && !g.ManualRetry && g.LastError != "" && g.NextAttempt.After(clk.Now())
				})
				g := get()
				if g.Attempts != 2 {
					t.Errorf("attempts %d after the operator's attempt, want 2 (it counts as none)", g.Attempts)
				}
				if g.NextAttempt.After(before) {
					t.Errorf("the %s moved the next attempt from %s to %s: %s later than before it",
						a.name, before.Format(time.TimeOnly), g.NextAttempt.Format(time.TimeOnly), g.NextAttempt.Sub(before))
				}
			})
		}
	}
}
