package shadow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// fakeStore keeps the primaries' state as the queue does: a takeover
// keeps the primary listed (its copies wait for a route), a contact with
// another database id takes over.
type fakeStore struct {
	mu        sync.Mutex
	clk       clock.Clock
	ps        map[string]*Primary
	discarded map[string][]string
	takeovers []string
	copies    map[string]bool // primaries with copies
	// asStored: failed heartbeats keep counting past a takeover, which
	// takes nothing the second time (as the transport database does).
	asStored bool
	// bounded: no takeover before timeout × retries after the primary's
	// LastHeard — the failure is counted and ErrTakeoverDeferred
	// answered, as the transport database does.
	bounded bool
}

func (f *fakeStore) Primaries() ([]Primary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Primary
	for name, p := range f.ps {
		if f.copies[name] {
			out = append(out, *p)
		}
	}
	return out, nil
}

// Contact is Presented, and the primary answered: its contact time is
// now, its failures and takeover cleared.
func (f *fakeStore) Contact(name, dbID string, _ uint64, ids []string) (ContactResult, error) {
	return f.present(name, dbID, ids, true)
}

func (f *fakeStore) Presented(name, dbID string, _ uint64, ids []string) (ContactResult, error) {
	return f.present(name, dbID, ids, false)
}

// present takes over when the primary presents a database id other than
// the one stored, stores dbID, and applies the discards ids; contact
// records a contact besides.
func (f *fakeStore) present(name, dbID string, ids []string, contact bool) (ContactResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res ContactResult
	p := f.ps[name]
	if p == nil {
		p = &Primary{Name: name}
		f.ps[name] = p
	}
	if p.DatabaseID != "" && dbID != "" && dbID != p.DatabaseID {
		res.OldDatabaseID, res.TakenOver = p.DatabaseID, 1
		f.takeovers = append(f.takeovers, name+": new transport database")
	}
	if dbID != "" {
		p.DatabaseID = dbID
	}
	f.discarded[name] = append(f.discarded[name], ids...)
	res.Discarded = len(ids)
	if contact {
		p.LastContact, p.LastTry, p.Failures, p.TakenOver = f.clk.Now(), time.Time{}, 0, false
	}
	return res, nil
}

// PresentedDigest takes over when the stored id's digest (here "D:"+id)
// differs, as the queue does; it stores nothing.
func (f *fakeStore) PresentedDigest(name, digest string) (ContactResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.ps[name]
	if p == nil || p.DatabaseID == "" || digest == "" {
		return ContactResult{}, nil
	}
	if digest == "D:"+p.DatabaseID {
		return ContactResult{SameDatabase: true}, nil
	}
	f.takeovers = append(f.takeovers, name+": new transport database (digest)")
	return ContactResult{OldDatabaseID: p.DatabaseID, TakenOver: 1}, nil
}

func (f *fakeStore) HeartbeatFailed(name string, started time.Time, timeout time.Duration, retries int, reason string) (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.ps[name]
	p.Failures++
	p.LastTry = started
	failures, taken := p.Failures, 0
	if f.bounded && p.Failures >= retries && f.clk.Now().Sub(p.LastHeard) < time.Duration(retries)*timeout {
		return failures, 0, ErrTakeoverDeferred
	}
	if f.asStored && p.Failures >= retries {
		if !p.TakenOver {
			f.takeovers = append(f.takeovers, fmt.Sprintf("%s: %d heartbeats failed", name, failures))
			p.TakenOver, taken = true, 1
		}
		return failures, taken, nil
	}
	if p.Failures >= retries {
		f.takeovers = append(f.takeovers, fmt.Sprintf("%s: %d heartbeats failed at %s: %s", name, failures,
			f.clk.Now().Format("15:04:05"), reason))
		p.Failures, p.TakenOver, taken = 0, true, 1
	}
	return failures, taken, nil
}

func (f *fakeStore) taken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.takeovers...)
}

// fakeHB answers heartbeats; with hang set it accepts the connection and
// never answers (a SIGSTOPped primary): it returns only when ctx ends.
type fakeHB struct {
	mu      sync.Mutex
	calls   map[string]int
	db      string
	err     error
	ids     []string
	hang    map[string]bool
	blocked int
}

// Heartbeat saves what it read as the deliverer's does: the whole query
// as the contact, or — with err — the batch read before the break.
func (h *fakeHB) Heartbeat(ctx context.Context, p, addr string, save Save) error {
	db, ids, err := h.heartbeat(ctx, p)
	if err == nil {
		return save(db, 0, ids, true)
	}
	if len(ids) > 0 {
		if serr := save(db, 0, ids, false); serr != nil {
			return serr
		}
	}
	return err
}

func (h *fakeHB) heartbeat(ctx context.Context, p string) (string, []string, error) {
	h.mu.Lock()
	h.calls[p]++
	hang := h.hang[p]
	if hang {
		h.blocked++
	}
	db, ids, err := h.db, h.ids, h.err
	h.mu.Unlock()
	if hang {
		<-ctx.Done()
		h.mu.Lock()
		h.blocked--
		h.mu.Unlock()
		return "", nil, ctx.Err()
	}
	return db, ids, err
}

func (h *fakeHB) n(p string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[p]
}

func (h *fakeHB) set(f func(h *fakeHB)) {
	h.mu.Lock()
	f(h)
	h.mu.Unlock()
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func setup() (*Manager, *fakeStore, *fakeHB, *clock.Fake) {
	clk := clock.NewFake(t0)
	st := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0}},
		copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
	hb := &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}}
	m := New(Config{Timeout: 300 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	return m, st, hb, clk
}

// settle waits until every session the manager started has either
// finished or is hung inside the heartbeater with its bound still ahead,
// so that what a step started has had its effect before the clock moves.
func settle(t *testing.T, m *Manager, hb *fakeHB, clk *clock.Fake) {
	t.Helper()
	for i := 0; i < 5000; i++ {
		m.mu.Lock()
		inFlight, expired := len(m.flight), false
		for _, deadline := range m.flight {
			expired = expired || !deadline.After(clk.Now())
		}
		m.mu.Unlock()
		hb.mu.Lock()
		blocked := hb.blocked
		hb.mu.Unlock()
		if !expired && inFlight == blocked {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("heartbeat sessions did not settle")
}

// step advances the fake clock by d, one second at a time, stepping the
// manager after each second.
func step(t *testing.T, m *Manager, hb *fakeHB, clk *clock.Fake, d time.Duration) {
	t.Helper()
	for i := time.Duration(0); i < d; i += time.Second {
		clk.Advance(time.Second)
		settle(t, m, hb, clk)
		m.Step(context.Background())
		settle(t, m, hb, clk)
	}
}

// Every (state, event) pair of one primary.
func TestPrimaryStates(t *testing.T) {
	ctx := context.Background()

	t.Run("healthy, no timeout: no heartbeat", func(t *testing.T) {
		m, _, hb, clk := setup()
		step(t, m, hb, clk, 299*time.Second)
		if hb.n("hub-b") != 0 {
			t.Fatalf("%d heartbeats before the timeout", hb.n("hub-b"))
		}
	})
	t.Run("healthy, timeout: heartbeat ok, discards applied, timer reset", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.ids = []string{"x1"}
		step(t, m, hb, clk, 300*time.Second)
		step(t, m, hb, clk, 299*time.Second)
		if hb.n("hub-b") != 1 || strings.Join(st.discarded["hub-b"], ",") != "x1" || len(st.taken()) != 0 {
			t.Fatalf("calls %d discarded %v takeovers %v", hb.n("hub-b"), st.discarded, st.taken())
		}
	})
	t.Run("contact resets the timer (SR-5)", func(t *testing.T) {
		m, _, hb, clk := setup()
		step(t, m, hb, clk, 200*time.Second)
		m.Contact("hub-b", "db1", 0, nil)
		step(t, m, hb, clk, 200*time.Second)
		if hb.n("hub-b") != 0 {
			t.Fatal("heartbeat although a session happened 200 s ago")
		}
	})
	t.Run("refused: takeover after exactly timeout × retries (SR-6)", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.err = errors.New("connection refused")
		step(t, m, hb, clk, 899*time.Second)
		if len(st.taken()) != 0 {
			t.Fatalf("takeover before timeout × retries: %v", st.taken())
		}
		step(t, m, hb, clk, time.Second)
		if tk := st.taken(); len(tk) != 1 || hb.n("hub-b") != 3 || !strings.Contains(tk[0], "3 heartbeats failed at 00:15:00") {
			t.Fatalf("takeover after %d heartbeats: %v", hb.n("hub-b"), tk)
		}
	})
	t.Run("failing then ok: failures reset", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.set(func(h *fakeHB) { h.err = errors.New("timeout") })
		step(t, m, hb, clk, 600*time.Second)
		hb.set(func(h *fakeHB) { h.err = nil })
		step(t, m, hb, clk, 300*time.Second)
		hb.set(func(h *fakeHB) { h.err = errors.New("timeout") })
		step(t, m, hb, clk, 600*time.Second)
		if len(st.taken()) != 0 {
			t.Fatalf("takeover after non-consecutive failures: %v", st.taken())
		}
	})
	t.Run("new database id: takeover at once (SR-7)", func(t *testing.T) {
		m, st, _, _ := setup()
		m.Contact("hub-b", "db1", 0, nil)
		m.Contact("hub-b", "db1", 0, nil)
		if len(st.taken()) != 0 {
			t.Fatal("takeover without a change")
		}
		m.Contact("hub-b", "db2", 0, nil)
		if tk := st.taken(); len(tk) != 1 || !strings.Contains(tk[0], "new transport database") {
			t.Fatalf("takeovers %v", tk)
		}
	})
	t.Run("no copies left: no heartbeat", func(t *testing.T) {
		m, st, hb, clk := setup()
		st.mu.Lock()
		delete(st.copies, "hub-b")
		st.mu.Unlock()
		step(t, m, hb, clk, time.Hour)
		if hb.n("hub-b") != 0 || len(m.Status()) != 0 {
			t.Fatalf("calls %d state %v", hb.n("hub-b"), m.Status())
		}
	})
	t.Run("shutdown during a heartbeat is no failure", func(t *testing.T) {
		m, st, hb, clk := setup()
		hb.hang["hub-b"] = true
		clk.Advance(300 * time.Second)
		cctx, cancel := context.WithCancel(ctx)
		m.Step(cctx)
		settle(t, m, hb, clk)
		cancel()
		m.Wait()
		if len(st.taken()) != 0 || st.ps["hub-b"].Failures != 0 {
			t.Fatal("a failure counted for our own shutdown")
		}
	})
}

// SR-16 (issue 20 items 2 and 7): a hung primary — it accepts the
// connection and never answers — is taken over after timeout × retries
// plus one command timeout, not twice as late: a failed heartbeat does
// not push the next one back by the time it hung.
func TestHungPrimaryTakenOverOnTime(t *testing.T) {
	m, st, hb, clk := setup()
	hb.hang["hub-b"] = true
	// Heartbeats start at 300, 600 and 900 s; the last gives up at 960 s.
	step(t, m, hb, clk, 959*time.Second)
	if tk := st.taken(); len(tk) != 0 {
		t.Fatalf("takeover before timeout × retries + command timeout: %v", tk)
	}
	if hb.n("hub-b") != 3 {
		t.Fatalf("%d heartbeats started by 959 s, want 3 (at 300, 600, 900 s)", hb.n("hub-b"))
	}
	step(t, m, hb, clk, time.Second)
	tk := st.taken()
	if len(tk) != 1 || !strings.Contains(tk[0], "3 heartbeats failed at 00:16:00") {
		t.Fatalf("takeover of a hung primary: %v", tk)
	}
	// Taken over, it is still heartbeated (its copies wait for a route).
	step(t, m, hb, clk, 300*time.Second)
	if hb.n("hub-b") != 4 {
		t.Fatalf("heartbeats after the takeover: %d", hb.n("hub-b")-3)
	}
}

// Heartbeats run concurrently: one hung primary does not delay another
// primary's heartbeat (issue 20 item 2).
func TestHungPrimaryDelaysNoOther(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-c"] = &Primary{Name: "hub-c", Addr: "127.0.0.3:25", LastContact: t0}
	st.copies["hub-c"] = true
	hb.hang["hub-b"] = true
	m.SetTiming(Timing{Timeout: 300 * time.Second, Retries: 3, CommandTimeout: 250 * time.Second})
	step(t, m, hb, clk, 301*time.Second)
	st.mu.Lock()
	c := *st.ps["hub-c"]
	st.mu.Unlock()
	if hb.n("hub-c") != 1 || !c.LastContact.Equal(t0.Add(300*time.Second)) {
		t.Fatalf("hub-c's heartbeat waited for hung hub-b: calls %d, last contact %v", hb.n("hub-c"), c.LastContact)
	}
	if hb.n("hub-b") != 1 {
		t.Fatalf("a second heartbeat to hub-b while the first is in flight: %d", hb.n("hub-b"))
	}
}

// SIGHUP (issue 20 item 6): new heartbeat settings apply to the running
// manager.
func TestSetTimingApplies(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-b"].DatabaseID = "db1"
	m.SetTiming(Timing{Timeout: 30 * time.Second, Retries: 3, CommandTimeout: 10 * time.Second})
	step(t, m, hb, clk, 30*time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("heartbeats with the reloaded timeout: %d", hb.n("hub-b"))
	}
}

// A watch session for a waiting sender that hangs does not hold back the
// heartbeat that judges the primary (SR-16: takeover on time).
func TestHangingWatchDoesNotHoldHeartbeat(t *testing.T) {
	m, _, hb, clk := setup()
	w := &hangingWatcher{fakeHB: hb, started: make(chan struct{}, 1)}
	m.cfg.Heartbeater = w
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.mu.Lock()
	m.runCtx = ctx // as Run sets it; the test steps by hand
	m.mu.Unlock()
	step(t, m, hb, clk, 250*time.Second)
	m.Expedite("hub-b")
	select {
	case <-w.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no watch session for a waiting sender")
	}
	step(t, m, hb, clk, 49*time.Second)
	if n := hb.n("hub-b"); n != 0 {
		t.Fatalf("%d heartbeats by 299 s, want none", n)
	}
	step(t, m, hb, clk, time.Second)
	if n := hb.n("hub-b"); n != 1 {
		t.Fatalf("the heartbeat due at 300 s waited for a hanging watch session (%d heartbeats)", n)
	}
}

// hangingWatcher watches by hanging until its context ends.
type hangingWatcher struct {
	*fakeHB
	started chan struct{}
}

func (w *hangingWatcher) Watch(ctx context.Context, primary, addr string, save Save, more func() bool) error {
	w.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// SR-5: only a completed discard query resets the heartbeat timer. A
// primary whose XSHADOW replies keep coming (delivery sessions to it
// that break or end before their end-of-session query, watch sessions
// that fail after XSHADOW) is still heartbeated one timeout after the
// last query — so a discard it committed just after that query is
// fetched within one timeout, not when it dies and its copies are taken
// over (chaos seed 1796052427219726873: an external duplicate).
func TestPresentedDoesNotPostponeHeartbeat(t *testing.T) {
	m, st, hb, clk := setup()
	hb.set(func(h *fakeHB) { h.ids = []string{"0001-x"} })
	for i := 0; i < 299; i++ {
		clk.Advance(time.Second)
		m.Presented("hub-b", "db1", 0, nil)
		m.Step(context.Background())
		settle(t, m, hb, clk)
	}
	if hb.n("hub-b") != 0 {
		t.Fatalf("%d heartbeats before the timeout", hb.n("hub-b"))
	}
	step(t, m, hb, clk, time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("XSHADOW replies postponed the heartbeat: %d heartbeats at the timeout", hb.n("hub-b"))
	}
	st.mu.Lock()
	got := st.discarded["hub-b"]
	st.mu.Unlock()
	if len(got) != 1 || got[0] != "0001-x" {
		t.Fatalf("the heartbeat's discard was not applied: %v", got)
	}
	// A completed query (here a watch session's, with no ids) is a
	// contact: the next heartbeat is one timeout after it.
	m.rec.save("hub-b")("db1", 0, []string{}, true)
	step(t, m, hb, clk, 299*time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("a completed query did not reset the timer: %d heartbeats", hb.n("hub-b"))
	}
	// A watch session's XSHADOW with a new database id still takes over.
	m.rec.save("hub-b")("db2", 0, nil, false)
	if tk := st.taken(); len(tk) != 1 || !strings.Contains(tk[0], "new transport database") {
		t.Fatalf("a new database id on XSHADOW: takeovers %v", tk)
	}
}

// SR-15: a heartbeat that broke after reading a batch of notifications
// (the primary forgot that batch when asked for the next) still applies
// it; the heartbeat counts as failed and the timer is not reset.
func TestBrokenHeartbeatAppliesBatchesRead(t *testing.T) {
	m, st, hb, clk := setup()
	hb.set(func(h *fakeHB) { h.ids, h.err = []string{"0001-x"}, errors.New("connection reset") })
	step(t, m, hb, clk, 300*time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("%d heartbeats", hb.n("hub-b"))
	}
	st.mu.Lock()
	got, p := st.discarded["hub-b"], *st.ps["hub-b"]
	st.mu.Unlock()
	if len(got) != 1 || got[0] != "0001-x" {
		t.Fatalf("the batch read before the break was dropped: %v", got)
	}
	if p.Failures != 1 || !p.LastContact.Equal(t0) {
		t.Fatalf("a broken heartbeat counted as a contact: %+v", p)
	}
}

// refusedErr is a session the primary answered with a 5xx (Refusal).
type refusedErr struct{ reply string }

func (e refusedErr) Error() string   { return "refused by the primary: " + e.reply }
func (e refusedErr) Refusal() string { return e.reply }

// A primary that refuses the shadow session (5xx: this server did not
// log in, or has no right to the shadow verbs) presenting the digest of
// its database is alive: its copies are not taken over however often it
// refuses, its heartbeats stay one per timeout, and each refusal is
// logged at WARN with its reply. When it then stops answering, its
// copies are taken over after the retry count of failed heartbeats as
// always (SR-6).
func TestRefusingPrimaryNotTakenOver(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-b"].DatabaseID = "db1"
	var logs strings.Builder
	var logMu sync.Mutex
	m.cfg.Log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	obs := &countingObserver{refused: map[string]int{}}
	m.cfg.Observer, m.rec.obs = obs, obs
	reply := "550 5.7.1 Not permitted to open a shadow session"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"}) })
	step(t, m, hb, clk, 3000*time.Second)
	if tk := st.taken(); len(tk) != 0 || st.ps["hub-b"].Failures != 0 {
		t.Fatalf("a refusing primary: takeovers %v, failures %d", tk, st.ps["hub-b"].Failures)
	}
	if n := hb.n("hub-b"); n != 10 {
		t.Fatalf("%d heartbeats in 10 timeouts, want 10", n)
	}
	logMu.Lock()
	warns := strings.Count(logs.String(), "level=WARN msg=\"primary refused the heartbeat")
	withReply := strings.Count(logs.String(), `reply="`+reply+`"`)
	logMu.Unlock()
	if warns != 10 || withReply != 10 {
		t.Fatalf("%d WARNs of refusals, %d with the reply, want 10:\n%s", warns, withReply, logs.String())
	}
	// The operator's view says so: refused, with the reply and since the
	// first refusal; counted as refused sessions, not failed heartbeats.
	if ps := m.Status(); len(ps) != 1 || ps[0].Refused != reply || !ps[0].RefusedSince.Equal(t0.Add(300*time.Second)) || ps[0].Failures != 0 {
		t.Fatalf("status of a refusing primary: %+v", ps)
	}
	if obs.count("heartbeat") != 10 || obs.failed != 0 {
		t.Fatalf("%d refused heartbeats and %d failed ones counted, want 10 and 0", obs.count("heartbeat"), obs.failed)
	}
	hb.set(func(h *fakeHB) { h.err = errors.New("connection refused") })
	step(t, m, hb, clk, 900*time.Second)
	if tk := st.taken(); len(tk) != 1 || !strings.Contains(tk[0], "connection refused") {
		t.Fatalf("a primary that stopped answering: takeovers %v", tk)
	}
}

// rt18 F4, F5: something at a dead primary's address that refuses this
// server's login without presenting the primary's database digest (no
// XSHADOWDB) is not the primary refusing: its heartbeats count as
// failed, as if nothing answered, and the copies are taken over after
// timeout × retries — not kept until they expire. Meanwhile every view
// says unreachable with the error and the takeover time, not refused;
// the metrics count failed heartbeats, not refused sessions. A refusal
// by the primary itself before it died no longer shows once a
// heartbeat failed.
func TestRefusalWithoutPrimaryDigestIsNoRefusal(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-b"].DatabaseID = "db1"
	obs := &countingObserver{refused: map[string]int{}}
	m.cfg.Observer, m.rec.obs = obs, obs
	primary := "535 5.7.8 Authentication failed"
	hb.set(func(h *fakeHB) { h.err = digestRefusal{refusedErr{primary}, "D:db1"} })
	step(t, m, hb, clk, 300*time.Second)
	if ps := m.Status(); len(ps) != 1 || ps[0].Refused != primary || ps[0].Unreachable != "" {
		t.Fatalf("status after the primary's own refusal: %+v", ps)
	}
	impostor := "535 5.7.8 Authentication credentials invalid"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{impostor}, ""}) })
	step(t, m, hb, clk, 300*time.Second)
	ps := m.Status()
	if len(ps) != 1 || ps[0].Refused != "" || ps[0].Failures != 1 || !strings.Contains(ps[0].Unreachable, impostor) ||
		!strings.Contains(ps[0].Unreachable, "without the primary's database digest") ||
		!ps[0].TakeoverAt.Equal(t0.Add(4*300*time.Second)) {
		t.Fatalf("status while something without the digest refuses: %+v; want unreachable, 1 failure, takeover at %v", ps, t0.Add(1200*time.Second))
	}
	// rt24 F3: the heartbeat that decides may hang for one command
	// timeout; the forecast says by when at the latest.
	if ct := m.Timing().CommandTimeout; !ps[0].TakeoverBy.Equal(ps[0].TakeoverAt.Add(ct)) {
		t.Fatalf("takeover by %v, want the takeover heartbeat's start %v + the command timeout %v", ps[0].TakeoverBy, ps[0].TakeoverAt, ct)
	}
	if len(st.taken()) != 0 {
		t.Fatalf("taken over after one failure: %v", st.taken())
	}
	step(t, m, hb, clk, 600*time.Second)
	if tk := st.taken(); len(tk) != 1 || !strings.Contains(tk[0], "3 heartbeats failed at 00:20:00") || !strings.Contains(tk[0], impostor) {
		t.Fatalf("takeovers %v; want one after 3 failed heartbeats", tk)
	}
	if obs.count("heartbeat") != 1 || obs.failed != 3 {
		t.Fatalf("%d refused heartbeats and %d failed ones counted, want 1 (the primary's) and 3", obs.count("heartbeat"), obs.failed)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// digestRefusal is a refusal that carries the database digest the
// primary advertised before it refused (shadow.DatabaseDigester).
type digestRefusal struct {
	refusedErr
	digest string
}

func (e digestRefusal) DatabaseDigest() string { return e.digest }

// rt15 N1: a primary back with a new database that refuses this server's
// login is recognised by the digest it advertised before the login: its
// copies are taken over at the first refused session, heartbeat or watch,
// not at its next push. Its own database's digest changes nothing.
func TestRefusingPrimaryWithNewDatabaseTakenOver(t *testing.T) {
	for _, kind := range []string{"heartbeat", "watch"} {
		t.Run(kind, func(t *testing.T) {
			clk := clock.NewFake(t0)
			st := &fakeStore{clk: clk, ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.2:25", LastContact: t0, DatabaseID: "db1"}},
				copies: map[string]bool{"hub-b": true}, discarded: map[string][]string{}}
			same := digestRefusal{refusedErr{"535 5.7.8 Authentication failed"}, "D:db1"}
			w := &fakeWatcher{fakeHB: fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}, err: same}, push: make(chan []string),
				ended: make(chan struct{}, 10), failing: true, failErr: same}
			m := New(Config{Timeout: 300 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: w})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m.Step(ctx) // the scheduler's first step (nothing due): watch sessions live in its context
			try := func() {
				if kind == "heartbeat" {
					clk.Advance(300 * time.Second)
					m.Step(ctx)
					m.Wait()
					return
				}
				n := w.connections()
				clk.Advance(300 * time.Second) // past the back-off of the last refusal; no step: no heartbeat
				m.Expedite("hub-b")
				waitUntil(t, "the watch session", func() bool { return w.connections() > n })
				waitUntil(t, "the refused watch to end", func() bool {
					m.mu.Lock()
					defer m.mu.Unlock()
					return !m.watching["hub-b"]
				})
			}
			try()
			if tk := st.taken(); len(tk) != 0 {
				t.Fatalf("taken over by its own database's digest: %v", tk)
			}
			other := digestRefusal{refusedErr{"535 5.7.8 Authentication failed"}, "D:db2"}
			w.fakeHB.set(func(h *fakeHB) { h.err = other })
			w.mu.Lock()
			w.failErr = other
			w.mu.Unlock()
			try()
			// In the heartbeat's case the watch session copies held keep
			// open (Step) is refused with the same digest: the queue
			// takes the copies over once, this fake at each refusal.
			tk := st.taken()
			if len(tk) == 0 {
				t.Fatal("a new database's digest: no takeover")
			}
			for _, s := range tk {
				if !strings.Contains(s, "new transport database") {
					t.Fatalf("a new database's digest: takeovers %v", tk)
				}
			}
		})
	}
}

// SR-5 (rt32a): a primary that refuses every heartbeat (every 2 s)
// logged the WARN at each one. It is paced: at WARN at the first
// refusal, when the reply changes and once a minute; the refusals
// between are INFO lines. A heartbeat that completes ends the refusal:
// the next one is warned of at once.
func TestRefusedHeartbeatWarnPaced(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-b"].DatabaseID = "db1"
	m.SetTiming(Timing{Timeout: 2 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second})
	var logs strings.Builder
	var logMu sync.Mutex
	m.cfg.Log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	count := func() (warns, infos int) {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Count(logs.String(), `level=WARN msg="primary refused the heartbeat;`),
			strings.Count(logs.String(), `level=INFO msg="primary refused the heartbeat again;`)
	}
	refuse := func(reply string) {
		hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"}) })
	}
	refuse("550 5.7.1 Not permitted to open a shadow session")
	step(t, m, hb, clk, 119*time.Second)
	if n := hb.n("hub-b"); n < 30 {
		t.Fatalf("%d heartbeats in 119 s at a 2 s timeout", n)
	}
	if w, i := count(); w != 2 || i < 28 {
		t.Fatalf("%d WARNs and %d INFO lines for %d refused heartbeats in 119 s; want 2 WARNs (one a minute), the rest INFO", w, i, hb.n("hub-b"))
	}
	refuse("530 5.7.0 Authentication required")
	step(t, m, hb, clk, 3*time.Second)
	if w, _ := count(); w != 3 {
		t.Fatalf("%d WARNs after the reply changed, want 3", w)
	}
	hb.set(func(h *fakeHB) { h.err = nil })
	step(t, m, hb, clk, 3*time.Second)
	refuse("530 5.7.0 Authentication required")
	step(t, m, hb, clk, 3*time.Second)
	if w, _ := count(); w != 4 {
		t.Fatalf("%d WARNs after a completed heartbeat and a refusal again, want 4", w)
	}
}

// A primary taken over for failed heartbeats that pushed a copy since
// (SR-17: it is alive, its failures forgotten, the heartbeat timer kept)
// is shown as heard from then: shadow list's LAST CONTACT is the push,
// not the last discard query, and WHY does not say it was not heard from.
func TestSR6TakenOverPrimaryHeardFromByPushShownSo(t *testing.T) {
	m, st, _, clk := setup()
	pushed := t0.Add(20 * time.Second)
	st.mu.Lock()
	st.ps["hub-b"].TakenOver, st.ps["hub-b"].TakeoverFailures, st.ps["hub-b"].Failures = true, 3, 0
	st.ps["hub-b"].Heard = pushed
	st.mu.Unlock()
	clk.Advance(21 * time.Second)
	ps := m.Status()
	if len(ps) != 1 {
		t.Fatalf("status %+v", ps)
	}
	if !ps[0].LastContact.Equal(pushed) {
		t.Errorf("last contact %v, want the push at %v", ps[0].LastContact, pushed)
	}
	if w := ps[0].TakenOverWhy; w != "3 heartbeats failed; the primary was heard from since, no heartbeat failed after" {
		t.Errorf("why %q", w)
	}
}
