package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// hangsFrom: deferrals at once, until hang is set; then every session
// hangs until the gate opens. DSNs relayed, their bodies kept.
type hangsFrom struct {
	mu    sync.Mutex
	hang  bool
	calls int
	dsns  []string
	gate  chan struct{}
	once  sync.Once
}

// open lets the attempts h holds go on (its gate closed, once).
func (h *hangsFrom) open() { h.once.Do(func() { close(h.gate) }) }

// startHanging starts a Manager over s delivering through h (cfg, with
// Hostname mx.test and Clock clk), running setup on it first when not
// nil, and submits a message from sender@example.org to w@slow.test
// arrived at t0. When the test ends it lets h's attempts go (open) and
// stops the Manager.
func startHanging(t *testing.T, s *Store, h *hangsFrom, clk *clock.Fake, t0 time.Time, cfg ManagerConfig, setup func(*Manager)) (*Manager, *Message) {
	t.Helper()
	cfg.Hostname, cfg.Clock = "mx.test", clk
	q := NewManager(s, h, cfg)
	if setup != nil {
		setup(q)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		h.open()
		cancel()
		q.Wait()
	})
	q.Start(ctx)
	m := msg(s, "sender@example.org", "w@slow.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return q, m
}

func (h *hangsFrom) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	out := make([]Result, len(rcpts))
	h.mu.Lock()
	if m.Connector == "dsn" {
		h.dsns = append(h.dsns, string(body))
		h.mu.Unlock()
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.org", Reply: "250 ok"}
		}
		return out
	}
	h.calls++
	hang := h.hang
	h.mu.Unlock()
	if hang {
		select {
		case <-h.gate:
		case <-ctx.Done():
		}
	}
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:slow.test", NextHop: "mx.slow.test[192.0.2.9]:25", Reply: "451 4.3.0 try later"}
	}
	return out
}

func (h *hangsFrom) dsnCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.dsns)
}

// Q-3 (rr24 F2, hungnotice25): a retry that starts before the delay
// notice falls due and hangs past it does not hold the notice back: the
// notice is committed while the job still runs (noticecommit.go), and
// the attempt's end makes no second one. (Before, the notice waited for
// the attempt's end: in a retry up to the expiry.)
func TestQ3DelayNoticeNotHeldByHungRetry(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{})}
	q, m := startHanging(t, s, h, clk, t0, ManagerConfig{RetrySchedule: []time.Duration{4 * time.Second}, MessageExpiration: time.Hour, DelayNotification: 5 * time.Second}, nil)
	waitFor(t, "the first deferral", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	h.mu.Lock()
	h.hang = true
	h.mu.Unlock()
	clk.Advance(4 * time.Second) // the retry at 4 s hangs
	waitFor(t, "the retry", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 2 })
	clk.Advance(5 * time.Minute) // the notice fell due at 5 s; the session hangs on
	waitFor(t, "the delay DSN while the retry hangs", func() bool { return h.dsnCount() == 1 })
	got, err := q.Message(m.ID)
	if err != nil || got.State != Active || !got.DelayNotified {
		t.Fatalf("the record with the notice made: %+v, %v; want Active, DelayNotified", got, err)
	}
	h.mu.Lock()
	dsn := h.dsns[0]
	h.mu.Unlock()
	if !strings.Contains(dsn, "Action: delayed") || !strings.Contains(dsn, "w@slow.test") {
		t.Fatalf("the DSN is not the delay notice for w@slow.test:\n%s", dsn)
	}
	// The retry ends (deferred): no second notice from its end.
	h.open()
	waitFor(t, "the retry's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 2 && got.DelayNotified
	})
	time.Sleep(100 * time.Millisecond) // a second DSN would be delivered by now
	if n := h.dsnCount(); n != 1 {
		t.Fatalf("%d DSNs; want the one delay notice", n)
	}
}

// dsnKept is planned, keeping the bodies of the DSNs it relays.
type dsnKept struct {
	*planned
	mu   sync.Mutex
	dsns []string
}

func (d *dsnKept) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if m.Connector == "dsn" {
		d.mu.Lock()
		d.dsns = append(d.dsns, string(body))
		d.mu.Unlock()
	}
	return d.planned.Deliver(ctx, m, body, rcpts)
}

func (d *dsnKept) kept() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dsns...)
}

// Q-3 (hungnotice25): a message's first attempt to three destinations,
// one of which hangs past the delay notice: the notice goes while it
// hangs, for exactly what is still pending — the hung recipient and
// the one a finished job deferred — not for the recipient a finished
// job relayed (its success DSN, asked for, made by that job's commit
// before: sched32). The attempt's end makes no second notice and no
// second success DSN.
func TestQ3DelayNoticeWhileSiblingHangsNamesOnlyPending(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["hung.test"] = true
	p.refuse["down.test"] = true
	d := &dsnKept{planned: p}
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
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
	m := msg(s, "a@example.org", "x@ok.test", "y@hung.test", "z@down.test")
	m.Rcpts[0].Notify = NotifySuccess | NotifyFailure | NotifyDelay
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@ relayed and z@ deferred while y@ hangs", func() bool {
		return p.count(p.done, "ok.test") == 1 && p.count(p.calls, "down.test") == 1 && p.count(p.calls, "hung.test") == 1
	})
	waitFor(t, "x@'s success DSN while y@ hangs", func() bool { return len(d.kept()) == 1 })
	if !strings.Contains(d.kept()[0], "Action: relayed") {
		t.Fatalf("the first DSN is not x@'s success DSN:\n%s", d.kept()[0])
	}
	clk.Advance(5*time.Second + noticeGrace)
	waitFor(t, "the delay DSN while y@ hangs", func() bool { return len(d.kept()) == 2 })
	dsn := d.kept()[1]
	if !strings.Contains(dsn, "Action: delayed") || !strings.Contains(dsn, "y@hung.test") || !strings.Contains(dsn, "z@down.test") {
		t.Fatalf("the delay notice does not name y@ and z@:\n%s", dsn)
	}
	if strings.Contains(dsn, "x@ok.test") {
		t.Fatalf("the delay notice names x@, which a finished job relayed:\n%s", dsn)
	}
	close(p.stop)
	stopped = true
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready
	})
	time.Sleep(100 * time.Millisecond)
	if dsns := d.kept(); len(dsns) != 2 {
		t.Fatalf("%d DSNs; want the success DSN for x@ then the delay notice; the last:\n%s", len(dsns), dsns[len(dsns)-1])
	}
}

// Q-3 (hungnotice25): the notice committed while a job hangs is in one
// transaction with the record's DelayNotified: a kill -9 after it
// leaves the message marked, and the restarted server's attempt makes
// no second notice.
func TestQ3CrashAfterNoticeWhileJobHangsNoSecondNotice(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.stall["hung.test"] = true
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "y@hung.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y@'s session", func() bool { return p.count(p.calls, "hung.test") == 1 })
	clk.Advance(5*time.Second + noticeGrace)
	waitFor(t, "the delay DSN relayed and its record gone", func() bool {
		if p.count(p.done, "example.org") != 1 {
			return false
		}
		for _, got := range messages(t, s) {
			if got.Connector == "dsn" {
				return false
			}
		}
		return true
	})
	// What a kill -9 leaves: the committed pages, as they are now.
	crashed := filepath.Join(t.TempDir(), "queue.db")
	f, err := os.Create(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p2 := newPlanned()
	p2.refuse["hung.test"] = true
	clk2 := clock.NewFake(clk.Now())
	q2 := NewManager(s2, p2, ManagerConfig{Hostname: "mx.test", Clock: clk2,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	if _, _, err := q2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { close(p2.stop); cancel2(); q2.Wait() }()
	q2.Start(ctx2)
	waitFor(t, "the restarted server's attempt deferred", func() bool {
		got, _ := q2.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts >= 1
	})
	time.Sleep(100 * time.Millisecond)
	if n := p2.count(p2.done, "example.org"); n != 0 {
		t.Fatalf("%d delay DSN(s) after the restart; the one before the crash was the notice", n)
	}
}

// tarpit holds every session until its message's expiry cuts it
// (ExpiryReached, as delivery's transaction does before the body), or
// its gate opens; DSNs relayed, their bodies kept.
type tarpit struct {
	mu       sync.Mutex
	sessions int
	dsns     []string
	gate     chan struct{}
}

func (p *tarpit) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	out := make([]Result, len(rcpts))
	p.mu.Lock()
	if m.Connector == "dsn" {
		p.dsns = append(p.dsns, string(body))
		p.mu.Unlock()
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.org", Reply: "250 ok"}
		}
		return out
	}
	p.sessions++
	p.mu.Unlock()
	reply := "451 4.4.2 mx.slow.test: timeout"
	select {
	case <-ExpiryReached(ctx):
		reply = ExpiredUnsentReply
	case <-p.gate:
	case <-ctx.Done():
	}
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:slow.test", NextHop: "mx.slow.test[192.0.2.9]:25", Reply: reply}
	}
	return out
}

func (p *tarpit) kept() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dsns...)
}

// Q-3, Q-6 (hungnotice25): a first attempt is never cut at the expiry —
// unless its delay notice went while it ran: that notice gave the
// sender a Will-Retry-Until, so a session still short of the body at
// the expiry ends then (expirycut.go) and the message fails as expired,
// not when the tarpit lets go.
func TestQ3FirstAttemptCutAtExpiryAfterItsNotice(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := &tarpit{gate: make(chan struct{})}
	q := NewManager(s, p, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 10 * time.Minute, DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.gate); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "y@slow.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first session", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.sessions == 1 })
	clk.Advance(5*time.Second + noticeGrace)
	waitFor(t, "the delay notice while the first attempt hangs", func() bool { return len(p.kept()) == 1 })
	clk.Advance(10 * time.Minute)
	waitFor(t, "the failure at the expiry", func() bool { return len(p.kept()) == 2 })
	if got, err := q.Message(m.ID); err != ErrNotFound {
		t.Fatalf("after the expiry the message is %+v, %v; want it failed and gone", got, err)
	}
	if dsn := p.kept()[1]; !strings.Contains(dsn, "Action: failed") || !strings.Contains(dsn, "5.4.7") {
		t.Fatalf("the second DSN is not the expiry's failure:\n%s", dsn)
	}
}

// gatedDomains is a Planner and Deliverer: one job per domain, window 1; a
// domain's sessions wait until its gate opens, then relay. It keeps,
// per domain, whether the copy each session carried said the delay
// notice went (Message.Carried), and counts the DSNs.
type gatedDomains struct {
	mu      sync.Mutex
	gates   map[string]chan struct{}
	carried map[string][]bool
	dsns    int
}

func (g *gatedDomains) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var jobs []Job
	at := map[string]int{}
	for _, i := range rcpts {
		d := domainOf(m.Rcpts[i].Addr)
		k, ok := at[d]
		if !ok {
			k = len(jobs)
			at[d] = k
			jobs = append(jobs, Job{Dest: "mx/" + d, Queue: "mx:" + d, Max: 1})
		}
		jobs[k].Rcpts = append(jobs[k].Rcpts, i)
	}
	return jobs
}

func (g *gatedDomains) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	d := domainOf(m.Rcpts[rcpts[0]].Addr)
	g.mu.Lock()
	if m.Connector == "dsn" {
		g.dsns++
	} else {
		g.carried[d] = append(g.carried[d], m.Carried().DelayNotified)
	}
	gate := g.gates[d]
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:" + d, NextHop: "hub." + d + "[192.0.2.7]:25", Reply: "250 ok"}
	}
	return out
}

// Q-3 (hungnotice25; rt21d M2, one notice across the organisation): a
// job of the attempt that starts after the notice went beside a hung
// sibling — it waited for its destination's window — carries "notice
// sent" to the next umbra server (X-Umbra-Delay-Notified), which would
// otherwise send a second one.
func TestQ3JobStartedAfterNoticeCarriesIt(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	g := &gatedDomains{gates: map[string]chan struct{}{"hung.test": make(chan struct{}), "busy.test": make(chan struct{})},
		carried: map[string][]bool{}}
	q := NewManager(s, g, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour, DelayNotification: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	var opened []string
	defer func() {
		for d, c := range g.gates {
			if !slices.Contains(opened, d) {
				close(c)
			}
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	// Another message, from the null sender (no notice of its own),
	// holds busy.test's one slot.
	b := msg(s, "", "x@busy.test")
	b.Arrived = t0
	if err := q.Submit(ctx, b, []byte(body)); err != nil {
		t.Fatal(err)
	}
	carried := func(d string) []bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return slices.Clone(g.carried[d])
	}
	waitFor(t, "busy.test's slot taken", func() bool { return len(carried("busy.test")) == 1 })
	m := msg(s, "a@example.org", "y@hung.test", "z@busy.test")
	m.Arrived = t0
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y@'s session", func() bool { return len(carried("hung.test")) == 1 })
	clk.Advance(5*time.Second + noticeGrace)
	waitFor(t, "the delay notice relayed while y@ hangs and z@ waits", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.dsns == 1 // its session starts after the notice's commit returned
	})
	close(g.gates["busy.test"])
	opened = append(opened, "busy.test")
	waitFor(t, "z@'s session", func() bool { return len(carried("busy.test")) == 2 })
	if c := carried("busy.test"); !c[1] {
		t.Fatalf("z@'s session, started after the notice went, carried DelayNotified=%v; want true", c[1])
	}
}
