package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// busyHostOf2 is busyHost with a window of 2: a cohort of two failures
// makes the destination dead.
type busyHostOf2 struct{ *busyHost }

func (b busyHostOf2) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "mx/busy.test", Queue: "mx:busy.test", Max: 2, Rcpts: rcpts}}
}

// Q-3, Q-6 (rt23c F5, rt32d F1): a recipient deferred behind a dead
// destination keeps its own last real reply inside the dead mark, and
// the one-line LAST ERROR of message list (LastErrorShown) begins with
// that reply, the reason, not with the dead mark a 50-column cut leaves
// alone. A recipient no host has replied to keeps the bare mark: the
// reply that made the destination dead was another message's.
func TestDeadWaitShowsTheRealReplyFirst(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	h := &busyHost{}
	q := NewManager(s, busyHostOf2{h}, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Second, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 2, DeadCoolDown: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	tried := msg(s, "a@example.org", "x@busy.test")
	if err := q.Submit(ctx, tried, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool {
		got, _ := q.Message(tried.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	killer := msg(s, "a@example.org", "w@busy.test") // its failure ends the cohort
	if err := q.Submit(ctx, killer, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second failure", func() bool {
		got, _ := q.Message(killer.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	late := msg(s, "b@example.org", "y@busy.test") // meets the dead mark
	if err := q.Submit(ctx, late, []byte(body)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // tried's retry is due: answered dead too
	q.Kick()
	for _, m := range []*Message{tried, late} {
		var got *Message
		waitFor(t, "the dead wait of "+m.Rcpts[0].Addr, func() bool {
			got, _ = q.Message(m.ID)
			return got != nil && isDeadReply(got.Rcpts[0].LastReply)
		})
		if m == late {
			if strings.Contains(got.Rcpts[0].LastReply, busyReply) {
				t.Errorf("%s: LAST REPLY %q carries another message's reply", m.Rcpts[0].Addr, got.Rcpts[0].LastReply)
			}
			continue
		}
		if !strings.Contains(got.Rcpts[0].LastReply, busyReply) {
			t.Errorf("%s: LAST REPLY %q lacks the real reply %q", m.Rcpts[0].Addr, got.Rcpts[0].LastReply, busyReply)
		}
		if shown := LastErrorShown(got.LastError); !strings.HasPrefix(shown, busyReply) || !strings.Contains(shown, "dead") {
			t.Errorf("%s: LAST ERROR shown as %q; want the real reply first, then the dead destination", m.Rcpts[0].Addr, shown)
		}
	}
	if h.calls != 2 {
		t.Fatalf("%d connections, want 2", h.calls)
	}
	if got := LastErrorShown("550 5.1.1 no such user"); got != "550 5.1.1 no such user" {
		t.Errorf("a plain reply shown as %q", got)
	}
}
