package queue

import (
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// failReplies keeps the reply text of each "fail" event.
type failReplies struct {
	mu  sync.Mutex
	got []string
}

func (e *failReplies) Event(name string, m *Message, r *Recipient, reply string) {
	if name != "fail" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, reply)
}

func (e *failReplies) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// Q-3 (sched32): a recipient that expires with no remote server's reply
// — its only attempt cut by the expiry before anything was sent — is
// failed with umbra's own words: the tracking "fail" event and what
// message show reads (ShownReply) say "not delivered: …" as the DSN
// does, never "last reply: " quoting umbra's own text as a server's.
func TestQ3ExpiryFailShowsNoOwnTextAsLastReply(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	ev := &failReplies{}
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, ExpiredUnsentReply })
	q, ctx := startManager(t, s, d, ManagerConfig{Hostname: "mx.test", Clock: clk, Events: ev,
		RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour})
	m := msg(s, "sender@example.org", "x@slow.test")
	m.Arrived = t0.Add(-time.Hour + time.Second)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // expired when the attempt ends
	waitFor(t, "the expiry's fail event", func() bool { return len(ev.all()) == 1 })
	reply := ev.all()[0]
	if strings.Contains(reply, "last reply:") || !strings.Contains(reply, "not delivered:") {
		t.Errorf("fail event reply %q: umbra's own text quoted as a last reply; want the reason in words", reply)
	}
	if shown := ShownReply(&Message{From: m.From, Rcpts: []Recipient{{Addr: "x@slow.test", Status: Failed, Queue: "mx:slow.test",
		LastReply: expiredReply("550 5.4.7", time.Hour, ExpiredUnsentReply)}}}, 0); strings.Contains(shown, "last reply:") ||
		!strings.Contains(shown, "not delivered:") {
		t.Errorf("shown reply %q: umbra's own text quoted as a last reply", shown)
	}
	host := expiredReply("550 5.4.7", time.Hour, "451 4.2.0 mailbox busy")
	if shown := ShownReply(&Message{From: m.From, Rcpts: []Recipient{{Addr: "x@slow.test", Status: Failed, LastReply: host}}}, 0); shown != host {
		t.Errorf("shown reply %q; a host's last reply is kept as it is: %q", shown, host)
	}
}
