package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// scriptHost is one destination, mx/x.test, whose host answers each
// recipient as scripted (by address; a success when not scripted),
// after the recipient's gate opens when it has one.
type scriptHost struct {
	mu    sync.Mutex
	gates map[string]chan struct{}
	in    map[string]bool // recipients whose delivery began
	res   map[string]Result
}

const scriptHop = "mx.x.test[192.0.2.1]:25"

func newScriptHost() *scriptHost {
	return &scriptHost{gates: map[string]chan struct{}{}, in: map[string]bool{}, res: map[string]Result{}}
}

func (h *scriptHost) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "mx/x.test", Queue: "mx:x.test", Rcpts: rcpts}}
}

func (h *scriptHost) Deliver(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
	out := make([]Result, 0, len(rcpts))
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		h.mu.Lock()
		h.in[addr] = true
		gate := h.gates[addr]
		r, ok := h.res[addr]
		h.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		if !ok {
			r = Result{Outcome: RelayedOK, Reply: "250 2.0.0 ok", Answered: true}
		}
		r.Rcpt, r.Queue, r.NextHop = i, "mx:x.test", scriptHop
		out = append(out, r)
	}
	return out
}

func (h *scriptHost) began(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.in[addr]
}

func scriptRig(t *testing.T, h *scriptHost, window int) (*Manager, *Store, *clock.Fake, context.Context) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, h, ManagerConfig{MaxActive: 10, Clock: clk, Events: nopEvents{},
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: window, DeadCoolDown: time.Minute, ThrottleRecheck: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		h.mu.Lock()
		for a, g := range h.gates {
			close(g)
			delete(h.gates, a)
		}
		h.mu.Unlock()
		cancel()
		q.Wait()
	})
	q.Start(ctx)
	return q, s, clk, ctx
}

func destX(q *Manager) DestinationInfo {
	for _, d := range q.Destinations() {
		if d.Name == "mx/x.test" {
			return d
		}
	}
	return DestinationInfo{}
}

// Q-6 (deliv47 item 1): a host's 421 closes its session (RFC 5321 §3.8)
// whatever its enhanced status — 4.4.2, 4.7.0 (too many connections
// from your IP), 4.3.2 (shutting down), none at all —: the destination's
// failed contact (−1), never its answer. Before, only a 421 4.4.x
// counted; the others grew the window by one as a success, so a host
// throttling umbra's connections was sent more of them. Read so live
// and from the stored reply after a restart (destFailure).
func TestQ6Every421IsAFailedContact(t *testing.T) {
	for _, reply := range []string{
		"421 4.4.2 closing, too many connections",
		"421 4.7.0 too many connections from your IP",
		"421 4.3.2 system shutting down",
		"421 service not available, closing transmission channel",
		"421",
	} {
		r := Result{Outcome: Deferred, NextHop: scriptHop, Reply: reply}
		if got := feedback([]Result{r}); got != -1 {
			t.Errorf("%q: feedback %d, want -1 (the host closed its session)", reply, got)
		}
		if !destFailure(reply, scriptHop, "") {
			t.Errorf("%q read after a restart: not a failure of its destination", reply)
		}
	}
	// Through the scheduler: the window shrinks, the destination is
	// shown failing with the 421 as its last error.
	h := newScriptHost()
	const reply = "421 4.7.0 too many connections from your IP"
	h.res["a@x.test"] = Result{Outcome: Deferred, Reply: reply}
	q, s, clk, ctx := scriptRig(t, h, 3)
	m := submitAt(t, q, s, clk, ctx, "a@x.test")
	settledReady(t, q, m.ID, "the 421's deferral", func(got *Message) bool { return got.Attempts == 1 })
	if d := destX(q); d.Window != 2 || d.State != "failing" || d.Failures != 1 || d.LastError != reply {
		t.Errorf("after %q: %+v; want window 2 of 3, failing once, its last error the 421", reply, d)
	}
}

// Q-6, OPS-2 (deliv47 item 2): the destination's last error when its
// window shrinks is the failure that shrank it, not whatever result
// came first in the job (a recipient the TLS policy kept, which counts
// neither way).
func TestQ6ShrinkKeepsTheFailureAsLastError(t *testing.T) {
	h := newScriptHost()
	const policy = "451 4.7.5 " + scriptHop + ": TLS required, STARTTLS not offered"
	const down = "451 4.4.2 " + scriptHop + ": reply to RCPT: read tcp 192.0.2.1:25: i/o timeout"
	h.res["a@x.test"] = Result{Outcome: Deferred, Reply: policy}
	h.res["b@x.test"] = Result{Outcome: Deferred, Reply: down}
	q, s, clk, ctx := scriptRig(t, h, 3)
	m := submitAt(t, q, s, clk, ctx, "a@x.test", "b@x.test")
	settledReady(t, q, m.ID, "the deferral", func(got *Message) bool { return got.Attempts == 1 })
	if d := destX(q); d.Window != 2 || d.LastError != down {
		t.Errorf("after a job whose first result is a TLS policy's and second a broken session: %+v; want window 2, last error %q", d, down)
	}
}

// Q-6 (deliv47 item 4): hosts that answered and did not take the
// message (passed over for its content, refused the session for good)
// with the rest cut by a limit — queue.NotSentReply: the message failed
// there — are no failed contact of the destination and no success of
// it either (feedback 0): its window does not grow and its failures in
// a row, with their last error, stay. Before, the result's Answered
// counted +1: a job that delivered nothing widened the window and
// cleared the failures of a destination that had failed.
func TestQ6NotSentIsNoSuccess(t *testing.T) {
	notSent := NotSentReply("554 5.6.1 "+scriptHop+": 8-bit content not taken") + " (mx_address_limit 1 reached: 1 more host not tried in this attempt)"
	r := Result{Outcome: Deferred, NextHop: scriptHop, Answered: true, Reply: notSent}
	if got := feedback([]Result{r}); got != 0 {
		t.Errorf("feedback of hosts that did not take the message: %d, want 0", got)
	}
	h := newScriptHost()
	const down = "451 4.4.1 connect to " + scriptHop + ": connection refused"
	h.res["a@x.test"] = Result{Outcome: Deferred, Reply: down}
	h.res["b@x.test"] = Result{Outcome: Deferred, Answered: true, Reply: notSent}
	q, s, clk, ctx := scriptRig(t, h, 3)
	ma := submitAt(t, q, s, clk, ctx, "a@x.test")
	settledReady(t, q, ma.ID, "the connect failure", func(got *Message) bool { return got.Attempts == 1 })
	mb := submitAt(t, q, s, clk, ctx, "b@x.test")
	settledReady(t, q, mb.ID, "the hosts that did not take it", func(got *Message) bool { return got.Attempts == 1 })
	if d := destX(q); d.Window != 2 || d.State != "failing" || d.Failures != 1 || d.LastError != down {
		t.Errorf("a failure, then hosts that did not take a message: %+v; want window 2, failing once with %q", d, down)
	}
}

// Q-6, OPS-2 (deliv47 item 6): a result of a job that started before
// its destination was marked dead says nothing of the destination after
// the mark: it neither clears the failures in a row and the last error
// that made it dead nor grows its window — the operator saw "destination
// dead" and then the destination's failures gone (shown failing, or
// idle, by a session older than the mark). Here a reload lowers the
// window to 1 while two jobs run; the first failure then makes it dead
// (a cohort of one), and the other job's success comes after.
func TestQ6LateResultKeepsTheDeadMark(t *testing.T) {
	h := newScriptHost()
	const down = "451 4.4.1 connect to " + scriptHop + ": connection refused"
	h.res["fail@x.test"] = Result{Outcome: Deferred, Reply: down}
	slow, fail := make(chan struct{}), make(chan struct{})
	h.gates["slow@x.test"], h.gates["fail@x.test"] = slow, fail
	q, s, clk, ctx := scriptRig(t, h, 2)
	ms := submitAt(t, q, s, clk, ctx, "slow@x.test")
	mf := submitAt(t, q, s, clk, ctx, "fail@x.test")
	waitFor(t, "both jobs running", func() bool { return h.began("slow@x.test") && h.began("fail@x.test") })
	q.SetReloadable(1, 0)
	h.mu.Lock()
	delete(h.gates, "fail@x.test")
	h.mu.Unlock()
	close(fail)
	waitFor(t, "the destination dead", func() bool { return destX(q).State == "dead" })
	h.mu.Lock()
	delete(h.gates, "slow@x.test")
	h.mu.Unlock()
	close(slow)
	settledReady(t, q, mf.ID, "the failed message", func(got *Message) bool { return got.Attempts == 1 })
	waitFor(t, "the slow message delivered", func() bool {
		got, _ := q.Message(ms.ID)
		return got == nil || got.State != Ready && got.State != Active
	})
	waitFor(t, "the slow job's slot back", func() bool { return destX(q).Running == 0 })
	if d := destX(q); d.State != "dead" || d.Failures != 1 || d.LastError != down || d.Window != 1 {
		t.Errorf("after a success of a job started before the dead mark: %+v; want dead, 1 failure, last error %q, window 1", d, down)
	}
}

// Q-6, OPS-2 (deliv47 item 3): after a restart a host's own 4.4.2 in a
// session it kept ("451 4.4.2 too busy, try later" to MAIL: an answer,
// feedback +1 when it came) is read as it was when it came — the host
// answered — not as a session it closed: the destination is not shown
// failing for it. What says so survives the restart: delivery marks a
// result answered exactly when it read the host's own reply other than
// a 421, and that reply is stored against the host, in words that do
// not name it (HostsOwnReply). Its 421 stays a failure (item 1).
func TestQ6HostsOwn442AnsweredAfterRestart(t *testing.T) {
	for _, c := range []struct {
		name, reply string
		answered    bool
		failing     bool
	}{
		{"own 4.4.2, session kept", "451 4.4.2 mx.x.test is too busy, try later", true, false},
		{"421 4.7.0, session closed", "421 4.7.0 too many connections from your IP", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Unix(1_700_000_000, 0))
			cfg := ManagerConfig{MaxActive: 10, Clock: clk, Events: nopEvents{}, MessageExpiration: 48 * time.Hour,
				RetrySchedule: []time.Duration{time.Hour},
				Scheduler:     SchedulerConfig{InitialWindow: 2, DeadCoolDown: time.Minute}}
			h := newScriptHost()
			h.res["a@x.test"] = Result{Outcome: Deferred, Answered: c.answered, Reply: c.reply}
			q1 := NewManager(s, h, cfg)
			ctx1, cancel1 := context.WithCancel(context.Background())
			q1.Start(ctx1)
			m := msg(s, "x@example.org", "a@x.test")
			m.Arrived = clk.Now()
			if err := q1.Submit(ctx1, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			settledReady(t, q1, m.ID, "the deferral", func(got *Message) bool { return got.Attempts == 1 })
			live := destX(q1).State == "failing"
			cancel1()
			q1.Wait()

			q := NewManager(s, h, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			waitFor(t, "the scheduler loop's first passes", func() bool { q.Kick(); return q.loopPasses.Load() >= 2 })
			d := destX(q)
			if got := d.State == "failing"; got != c.failing || live != c.failing {
				t.Errorf("%q: failing before the restart %v, after it %v (%+v); want %v both times", c.reply, live, got, d, c.failing)
			}
		})
	}
}

// Q-6 (deliv47 item 3, the LMTP sibling): the mailbox store's LMTP
// server's results are recorded against "lmtp:ADDR" while umbra's words
// about its session say "lmtp": read back after a restart, its own 451
// 4.4.2 and its replies out of step or stray are its answers, as they
// were when they came (Answered), and umbra's words on a session that
// broke, its greeting, and its 421 are failures. Before, every 4.4.2
// recorded against it read as a failure after a restart.
func TestQ6LMTPAnsweredReadBackAfterRestart(t *testing.T) {
	const hop = "lmtp:127.0.0.1:24"
	for _, c := range []struct {
		reply   string
		failure bool
	}{
		{"451 4.4.2 too busy, try later", false},
		{OutOfStepReply("lmtp", "MAIL", "503 5.5.1 Error: nested MAIL command"), false},
		{StrayReply("lmtp", `"354 go ahead"`), false},
		{SessionFailedReply("lmtp", "reply to MAIL: read tcp 127.0.0.1:24: i/o timeout"), true},
		{LMTPGreetingFailed + "read tcp 127.0.0.1:24: i/o timeout", true},
		{"421 4.3.2 shutting down", true},
	} {
		if got := destFailure(c.reply, hop, ""); got != c.failure {
			t.Errorf("%q against %s after a restart: failure %v, want %v", c.reply, hop, got, c.failure)
		}
	}
}
