package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// greetThenHang: h@y.example's first attempt gets a host's deferral (a
// 4.3.0 greeting: the destination is not marked dead, whose wait keeps
// the host's reply already, deadWaitReply);
// every later one hangs until the message's expiry cuts it (the next
// hop never greets) and answers ExpiredUnsentReply, as delivery does.
type greetThenHang struct {
	*slotWait
	mu2   sync.Mutex
	tries int
}

const greetTimeout = "451 4.3.0 greeting from mx.y.example[192.0.2.7]: try again later"

func (o *greetThenHang) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if m.Rcpts[rcpts[0]].Addr != "h@y.example" {
		return o.slotWait.Deliver(ctx, m, body, rcpts)
	}
	o.mu2.Lock()
	o.tries++
	first := o.tries == 1
	o.mu2.Unlock()
	out := make([]Result, len(rcpts))
	if first {
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:y.example", NextHop: "mx.y.example[192.0.2.7]:25", Reply: greetTimeout}
		}
		return out
	}
	select {
	case <-ExpiryReached(ctx):
	case <-ctx.Done():
		return nil
	}
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:y.example", Reply: ExpiredUnsentReply}
	}
	return out
}

func (o *greetThenHang) attempts() int {
	o.mu2.Lock()
	defer o.mu2.Unlock()
	return o.tries
}

// Q-3, DSN-: a message whose last attempt the expiry cut before any host
// answered (the next hop never greeted) fails quoting the last reply a
// host gave it, as the README promises of every failure at the expiry —
// not umbra's own "transaction ended before DATA, nothing sent", which
// said a transaction began and dropped the host's reply from the DSN,
// the tracking log and message show (rt26d F1).
func TestExpiryCutAttemptKeepsTheHostsLastReply(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	o := &greetThenHang{slotWait: newSlotWait()}
	q := NewManager(s, o, ManagerConfig{MaxActive: 100, Clock: clk, Hostname: "mx.test",
		RetrySchedule: []time.Duration{30 * time.Second}, MessageExpiration: 60 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	m := msg(s, "a@example.org", "h@y.example")
	m.Arrived = t0
	m.Rcpts[0].Notify = NotifyFailure
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt's deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.Rcpts[0].LastReply == greetTimeout
	})
	clk.Advance(30 * time.Second)
	q.Kick()
	waitFor(t, "the second attempt, hanging", func() bool { return o.attempts() == 2 })
	clk.Advance(30 * time.Second) // t0+60s: the expiry cuts it
	waitFor(t, "the failure DSN", func() bool { return len(o.dsnsAbout("h@y.example", "failed")) == 1 })
	dsn := o.dsnsAbout("h@y.example", "failed")[0]
	if !strings.Contains(dsn, "451 4.3.0 greeting from mx.y.example[192.0.2.7]") {
		t.Errorf("the failure DSN does not quote the host's last reply:\n%s", dsn)
	}
	if strings.Contains(dsn, "transaction ended before DATA") {
		t.Errorf("the failure DSN says a transaction ended before DATA, though no host ever greeted:\n%s", dsn)
	}
	if !strings.Contains(dsn, "mx.y.example") {
		t.Errorf("the failure DSN names no Remote-MTA of the host that answered:\n%s", dsn)
	}
}
