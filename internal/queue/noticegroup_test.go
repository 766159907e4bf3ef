package queue

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// groupsThenHang: one job for both recipients (one domain); its first
// group (x@) ends at once with a permanent failure, reported through
// ReportGroup as the directory's groups are; its second (y@) hangs
// until the gate opens. DSN bodies kept.
type groupsThenHang struct {
	mu    sync.Mutex
	calls int
	dsns  []string
	gate  chan struct{}
	out   Outcome
	reply string
}

func (g *groupsThenHang) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if m.Connector == "dsn" {
		g.mu.Lock()
		g.dsns = append(g.dsns, string(body))
		g.mu.Unlock()
		out := make([]Result, len(rcpts))
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.org", Reply: "250 ok"}
		}
		return out
	}
	first := Result{Rcpt: 0, Outcome: g.out, Queue: "mx:g.test", NextHop: "mx1.g.test[192.0.2.1]:25", Reply: g.reply}
	ReportGroup(ctx, []Result{first}) // returns once the group's report is taken (and committed, if it commits)
	g.mu.Lock()
	g.calls++ // after the group's report: the test waits for it
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
	return []Result{first, {Rcpt: 1, Outcome: Deferred, Queue: "mx:g.test", NextHop: "mx2.g.test[192.0.2.2]:25", Reply: "451 4.3.0 try later"}}
}

func (g *groupsThenHang) kept() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.dsns...)
}

func runGroupsThenHang(t *testing.T, out Outcome, reply string) []string {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	g := &groupsThenHang{gate: make(chan struct{}), out: out, reply: reply}
	q := NewManager(s, g, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	opened := false
	defer func() {
		if !opened {
			close(g.gate)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@g.test", "y@g.test")
	for i := range m.Rcpts {
		m.Rcpts[i].Notify = NotifySuccess | NotifyFailure | NotifyDelay
	}
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job's session", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.calls == 1 })
	clk.Advance(5*time.Second + noticeGrace)
	waitFor(t, "the delay DSN while y@ hangs", func() bool { return actionIn(g.kept(), "delayed") != "" })
	close(g.gate)
	opened = true
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State != Active
	})
	time.Sleep(200 * time.Millisecond)
	return g.kept()
}

// actionIn is the first of dsns whose report has the action given
// ("delayed", "failed", …), "" for none.
func actionIn(dsns []string, action string) string {
	for _, d := range dsns {
		if strings.Contains(d, "Action: "+action) {
			return d
		}
	}
	return ""
}

// Q-3 (notice25b F1): a group of the job that ended with a permanent failure (its
// next hop said 550 5.1.1) is not reported as delayed ("will retry") by
// the notice committed while the job's other group hangs; its failure
// DSN is made by the group's own commit (sched32), one only.
func TestNoticeNamesRecipientItsGroupFailed(t *testing.T) {
	dsns := runGroupsThenHang(t, FailedPerm, "550 5.1.1 no such user")
	if d := actionIn(dsns, "delayed"); strings.Contains(d, "x@g.test") {
		t.Fatalf("the delay notice names x@, whose group's next hop failed it for good (then %d DSNs):\n%s", len(dsns), d)
	}
	if len(dsns) != 2 || !strings.Contains(actionIn(dsns, "failed"), "x@g.test") {
		t.Fatalf("%d DSNs; want the notice and one failure DSN for x@", len(dsns))
	}
}

// Q-3 (notice25b F1): likewise a recipient its group relayed whose sender asked for
// a success DSN (committed with the group, its DSN too: sched32).
func TestNoticeNamesRecipientItsGroupRelayed(t *testing.T) {
	dsns := runGroupsThenHang(t, RelayedOK, "250 2.0.0 ok")
	if d := actionIn(dsns, "delayed"); strings.Contains(d, "x@g.test") {
		t.Fatalf("the delay notice names x@, which its group relayed (then %d DSNs):\n%s", len(dsns), d)
	}
	if len(dsns) != 2 || !strings.Contains(actionIn(dsns, "relayed"), "x@g.test") {
		t.Fatalf("%d DSNs; want the notice and one success DSN for x@", len(dsns))
	}
}

// Q-3 (notice25b F2): the notice committed beside a hung job of a
// suspect (CrashCount > 0) builds its DSN — umbra's code on the message
// — only while the attempt holds the suspects' turn (suspectgate.go);
// one that lost it (the turn's bound handed it on) leaves the notice to
// the attempt's end.
func TestNoticeOfSuspectWaitsForItsTurn(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	g := &groupsThenHang{gate: make(chan struct{}), out: Deferred, reply: "451 4.3.0 try later"}
	q := NewManager(s, g, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	var got atomic.Pointer[attempt]
	hook := func(a *attempt) { got.CompareAndSwap(nil, a) }
	q.suspects.acquired.Store(&hook)
	ctx, cancel := context.WithCancel(context.Background())
	opened := false
	defer func() {
		if !opened {
			close(g.gate)
		}
		cancel()
		q.Wait()
	}()
	m := msg(s, "a@example.org", "x@g.test", "y@g.test")
	for i := range m.Rcpts {
		m.Rcpts[i].Notify = NotifyFailure | NotifyDelay
	}
	m.Arrived = t0
	m.State, m.NextAttempt, m.CrashCount = Ready, t0, 1 // a suspect, due
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	waitFor(t, "the suspect's job in its session", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.calls == 1 })
	a := got.Load()
	if a == nil || a.m.CrashCount == 0 {
		t.Fatalf("the message's attempt is no suspect's (%v)", a != nil)
	}
	clk.Advance(5 * time.Second) // the notice due; its timer (noticeGrace later) not fired
	q.suspects.mu.Lock()
	q.suspects.holder = nil // the turn handed on while the job hangs
	q.suspects.mu.Unlock()
	q.commitNotice(ctx, a)
	if a.noticed.Load() {
		t.Fatal("the delay notice of a suspect was made without the suspects' turn")
	}
	q.suspects.mu.Lock()
	q.suspects.holder = a
	q.suspects.mu.Unlock()
	q.commitNotice(ctx, a)
	if !a.noticed.Load() {
		t.Fatal("the delay notice of a suspect holding the turn, its job hung, was not made")
	}
	close(g.gate)
	opened = true
}
