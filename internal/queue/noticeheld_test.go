package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// downHost is dsnKept whose deliveries to down.test defer at once with a
// host's reply, naming that host.
type downHost struct{ *dsnKept }

func (d downHost) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if m.Connector != "dsn" && domainOf(m.Rcpts[rcpts[0]].Addr) == "down.test" &&
		!(d.planned.suspended != nil && d.planned.suspended("mx:down.test")) {
		out := make([]Result, len(rcpts))
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:down.test", NextHop: "mx.down.test[192.0.2.7]:25",
				Reply: "451 4.4.2 greeting from mx.down.test[192.0.2.7]:25: i/o timeout"}
		}
		return out
	}
	return d.dsnKept.Deliver(ctx, m, body, rcpts)
}

// the sibling of the hold during an attempt that heldNow left. A message's
// attempt to two destinations: z@down.test's job ends deferred with the
// host's reply, y@hung.test's hangs. The operator suspends mx:down.test.
// The delay notice falls due while y@'s job still hangs and is made
// beside it (commitNotice): it quoted the host's words for z@ with no
// word of the hold, which waits in a suspended queue — the attempt's end
// (finish, heldNow) would have said the hold, as README says every DSN
// of held mail does: the cause its attempt met (the host stopped
// answering at its greeting), then the hold beside it (dsnlast47).
func TestQ3NoticeBesideHungJobQuotesTheHold(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["hung.test"] = true
	d := downHost{&dsnKept{planned: p}}
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second,
		Inside: Inside{SenderDomains: senders(true)}})
	p.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	defer func() {
		if !stopped {
			close(p.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := msg(s, "a@example.org", "y@hung.test", "z@down.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y@ hangs", func() bool { return p.count(p.calls, "hung.test") == 1 })
	time.Sleep(200 * time.Millisecond) // z@'s job ended
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5*time.Second + noticeGrace)
	waitFor(t, "the delay DSN while y@ hangs", func() bool { return len(d.kept()) == 1 })
	dsn := d.kept()[0]
	if strings.Contains(dsn, "Diagnostic-Code") || strings.Contains(dsn, "452 4.3.2") {
		t.Errorf("the delay notice made beside the hung job quotes a reply no host gave for z@, held in suspended mx:down.test:\n%s", dsn)
	}
	if want := "mx.down.test[192.0.2.7]:25 stopped answering"; !strings.Contains(dsn, want) {
		t.Errorf("the delay notice does not say the cause z@'s attempt met (%q):\n%s", want, dsn)
	}
	if want := heldMention("mx:down.test", NotifyDelay, true); !strings.Contains(dsn, want) {
		t.Errorf("the delay notice does not say z@ is held (%q):\n%s", want, dsn)
	}
	// The attempt's end, for comparison: its commit makes z@'s reply the hold's.
	close(p.stop)
	stopped = true
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready
	})
	got, _ := q.Message(m.ID)
	t.Logf("after the end: z@ last reply %q next hop %q", got.Rcpts[1].LastReply, got.Rcpts[1].NextHop)
}
