package queue

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// domainHops is smtpHops with one job per destination (a recipient's
// domain) and a next hop's 5xx reply a permanent failure.
type domainHops struct{ *smtpHops }

func (h domainHops) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	at := map[string]int{}
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		k, ok := at[d]
		if !ok {
			k = len(jobs)
			at[d] = k
			jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d})
		}
		jobs[k].Rcpts = append(jobs[k].Rcpts, i)
	}
	return jobs
}

func (h domainHops) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	out := h.smtpHops.Deliver(ctx, m, body, rcpts)
	for k := range out {
		if reply, ok := strings.CutPrefix(out[k].Reply, "451 4.4.2 "); ok && strings.HasPrefix(reply, "5") {
			out[k].Outcome, out[k].Reply = FailedPerm, reply
		}
	}
	return out
}

// refusingHop is an SMTP server that refuses every recipient: 550.
func refusingHop(t *testing.T) string {
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
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				buf := make([]byte, 4096)
				c.Write([]byte("220 refuse.test ESMTP\r\n"))
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\r\n") {
						switch v := strings.ToUpper(line); {
						case strings.HasPrefix(v, "RCPT"):
							c.Write([]byte("550 5.1.1 no such user here\r\n"))
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
	return ln.Addr().String()
}

// dsnsIn is the DSNs in s (the test's one message's), by their Action.
func dsnsIn(t *testing.T, q *Manager, s *Store) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, d := range messages(t, s) {
		if d.Connector != "dsn" {
			continue
		}
		b, err := q.Body(d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{"failed", "relayed", "delivered", "delayed"} {
			if strings.Contains(string(b), "Action: "+action) {
				n[action]++
			}
		}
	}
	return n
}

// SPEC Q-3, SR-10 (sched32): a finished job's final result does not wait
// for a hung job of the same attempt. One message to a@refuse.test (its
// next hop answers 550 to RCPT) and b@hang.test (its next hop takes the
// data and holds its reply, gatedHop): the failure DSN for a@ is made
// while b@'s session still hangs, a@ failed in the record, which stays
// Active. When b@'s next hop answers, the attempt ends with b@ relayed,
// the message gone and no second failure DSN. The clock never moves.
func TestFailureDSNNotHeldByHungSibling(t *testing.T) {
	s := openTest(t)
	hung, inData, gate := gatedHop(t)
	h := domainHops{hopsTo(map[string]string{"refuse.test": refusingHop(t), "hang.test": hung})}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, ctx, _ := startGatedHops(t, s, clk, h, make(chan struct{}))
	m := msg(s, "sender@example.org", "a@refuse.test", "b@hang.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b@'s session hung at the end of its data", func() bool { return inData.Load() == 1 })
	waitFor(t, "a@'s failure DSN while b@'s job hangs", func() bool { return dsnsIn(t, q, s)["failed"] == 1 })
	got, _ := q.Message(m.ID)
	if got == nil || got.State != Active || got.Rcpts[0].Status != Failed || got.Rcpts[1].Status != Pending {
		t.Fatalf("the record beside the hung job: %+v; want Active, a@ failed, b@ pending", got)
	}
	if inData.Load() != 1 {
		t.Fatal("the hung job ended before the check")
	}
	gate <- struct{}{} // b@'s next hop answers
	waitFor(t, "the attempt's end", func() bool { got, _ := q.Message(m.ID); return got == nil })
	if h.delivered("hang.test") != 1 {
		t.Errorf("b@ relayed %d times, want 1", h.delivered("hang.test"))
	}
	if n := dsnsIn(t, q, s); n["failed"] != 1 || len(n) != 1 {
		t.Errorf("DSNs after the attempt: %v; want one failure DSN", n)
	}
}

// The same for a success DSN (sched32): a@fast.test, whose sender asked
// for NOTIFY=SUCCESS, is relayed to a next hop that takes no DSN
// parameters; its "relayed" DSN is made while b@'s session hangs.
func TestSuccessDSNNotHeldByHungSibling(t *testing.T) {
	s := openTest(t)
	hung, inData, gate := gatedHop(t)
	h := domainHops{hopsTo(map[string]string{"fast.test": healthyHop(t), "hang.test": hung})}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, ctx, _ := startGatedHops(t, s, clk, h, make(chan struct{}))
	m := msg(s, "sender@example.org", "a@fast.test", "b@hang.test")
	m.Rcpts[0].Notify = NotifySuccess | NotifyFailure
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b@'s session hung at the end of its data", func() bool { return inData.Load() == 1 })
	waitFor(t, "a@'s success DSN while b@'s job hangs", func() bool { return dsnsIn(t, q, s)["relayed"] == 1 })
	got, _ := q.Message(m.ID)
	if got == nil || got.State != Active || got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Pending {
		t.Fatalf("the record beside the hung job: %+v; want Active, a@ relayed, b@ pending", got)
	}
	if inData.Load() != 1 {
		t.Fatal("the hung job ended before the check")
	}
	gate <- struct{}{} // b@'s next hop answers
	waitFor(t, "the attempt's end", func() bool { got, _ := q.Message(m.ID); return got == nil })
	if n := dsnsIn(t, q, s); n["relayed"] != 1 || len(n) != 1 {
		t.Errorf("DSNs after the attempt: %v; want one success DSN", n)
	}
}
