package dumpster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

var injected bool

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// counts is an Observer that remembers what it heard.
type counts struct {
	mu          sync.Mutex
	kept        int
	keptAgain   int // of those kept, copies of redelivery copies (DumpsterKept again)
	evicted     map[string]int
	resubmitted int
	// onResubmitted runs after each resubmission step's commit is heard of.
	onResubmitted func()
}

func (c *counts) DumpsterKept(_ string, _ int64, again bool) {
	c.mu.Lock()
	if again {
		c.keptAgain++
	} else {
		c.kept++
	}
	c.mu.Unlock()
}
func (c *counts) DumpsterEvicted(_, reason string, n int) {
	c.mu.Lock()
	c.evicted[reason] += n
	c.mu.Unlock()
}
func (c *counts) DumpsterResubmitted(_ string, n int) {
	c.mu.Lock()
	c.resubmitted += n
	f := c.onResubmitted
	c.mu.Unlock()
	if f != nil {
		f()
	}
}
func (c *counts) get(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted[reason]
}

// rig is a queue manager whose deliverer writes into "mailboxes" in
// memory, asking the duplicate record first as the real one does, with
// the dumpster keeping copies.
type rig struct {
	t     *testing.T
	clk   *clock.Fake
	store *queue.Store
	path  string
	mgr   *queue.Manager
	d     *Dumpster
	obs   *counts
	logs  *lockedBuffer // the dumpster's and the manager's log lines
	stop  func()        // ends the manager and closes the store (once)

	mu        sync.Mutex
	delivered map[string]int         // Message-ID|rcpt → copies in the mailbox
	received  map[string][]time.Time // Message-ID → each attempt's message's receipt (ArrivedHere)
	dups      int
	// storeDedup: the mailbox store itself refuses a copy it has (a
	// Maildir's org id file), whatever the duplicate records say.
	storeDedup bool
	// deferAll: every attempt is deferred (the messages stay queued).
	deferAll bool
	// deferRcpt: attempts for this recipient are deferred.
	deferRcpt string
	// refuseAll: every recipient is refused for good (550).
	refuseAll bool
	// refuseRcpt: this recipient is refused for good (550), its result
	// reported at once (queue.ReportGroup, as a group of a job that
	// ends before the others), the job's other results after.
	refuseRcpt string
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	return newRigAt(t, filepath.Join(t.TempDir(), "queue.db"), cfg)
}

// newRigAt is newRig on the transport database at path (a new one, or
// one a stopped rig left: rig.stop).
func newRigAt(t *testing.T, path string, cfg Config) *rig {
	t.Helper()
	store, err := queue.Open(path, queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: clock.NewFake(t0), store: store, path: path, obs: &counts{evicted: map[string]int{}}, delivered: map[string]int{},
		logs: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	r.d = New(store, cfg, Options{Clock: r.clk, Observer: r.obs, Log: log})
	r.mgr = queue.NewManager(store, queue.DelivererFunc(r.deliver), queue.ManagerConfig{Clock: r.clk, Dumpster: r.d,
		DuplicateWindow: 30 * 24 * time.Hour, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	r.mgr.Start(ctx)
	r.stop = sync.OnceFunc(func() { cancel(); r.mgr.Wait(); store.Close() })
	t.Cleanup(r.stop)
	return r
}

func (r *rig) deliver(ctx context.Context, m *queue.Message, _ []byte, rcpts []int) []queue.Result {
	var out []queue.Result
	for _, i := range rcpts {
		db := "DB1"
		if strings.HasPrefix(m.Rcpts[i].Addr, "db2-") {
			db = "DB2"
		}
		res := queue.Result{Rcpt: i, Outcome: queue.DeliveredOK, Queue: "mailbox:" + db, Reply: "250 ok", Database: db}
		r.mu.Lock()
		hold := r.deferAll || m.Rcpts[i].Addr == r.deferRcpt
		refuse := r.refuseAll
		refuseEarly := r.refuseRcpt != "" && m.Rcpts[i].Addr == r.refuseRcpt
		r.mu.Unlock()
		if refuse || refuseEarly {
			res := queue.Result{Rcpt: i, Outcome: queue.FailedPerm, Queue: "mailbox:" + db, Reply: "550 5.1.1 no such mailbox"}
			if refuseEarly {
				queue.ReportGroup(ctx, []queue.Result{res})
			}
			out = append(out, res)
			continue
		}
		if hold {
			out = append(out, queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "mailbox:" + db, Reply: "451 4.3.0 later"})
			continue
		}
		r.mu.Lock()
		if r.received == nil {
			r.received = map[string][]time.Time{}
		}
		r.received[m.MessageID] = append(r.received[m.MessageID], m.OrgReceived())
		r.mu.Unlock()
		c := r.mgr.ClaimFinal(m.ID, db, m.OrgID, m.Rcpts[i].Addr)
		if m.MessageID == "<4@test>" && !injected {
			injected = true
			c = queue.Busy
		}
		switch c {
		case queue.Duplicate:
			res.Duplicate = true
			r.mu.Lock()
			r.dups++
			r.mu.Unlock()
		case queue.Busy:
			res.Outcome = queue.Deferred
		default:
			r.mu.Lock()
			if key := m.MessageID + "|" + m.Rcpts[i].Addr; r.storeDedup && r.delivered[key] > 0 {
				res.Duplicate = true
				r.dups++
			} else {
				r.delivered[key]++
			}
			r.mu.Unlock()
		}
		out = append(out, res)
	}
	return out
}

// send submits a copy of transport message n (organisation message id
// and Message-ID from n) of size bytes and waits until it left the queue.
func (r *rig) send(n int, size int, rcpts ...string) {
	r.t.Helper()
	if len(rcpts) == 0 {
		rcpts = []string{"bob@example.test"}
	}
	m := &queue.Message{ID: r.mgr.NewID(), From: "a@example.org", MessageID: fmt.Sprintf("<%d@test>", n), OrgID: fmt.Sprintf("%032x", n)}
	for _, a := range rcpts {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: a})
	}
	body := []byte(fmt.Sprintf("Message-ID: <%d@test>\r\n\r\n%s", n, strings.Repeat("x", max(size-24, 0))))
	if err := r.mgr.Submit(context.Background(), m, body); err != nil {
		r.t.Fatal(err)
	}
	r.waitEmpty()
}

// waitEmpty waits until no message is left. A message deferred meanwhile
// (the rig's deliverer answers Busy while another copy's claim is still
// held, as the real one does) waits for its next attempt on the fake
// clock; once nothing is in delivery the clock is moved to that attempt,
// as real time would pass.
func (r *rig) waitEmpty() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	stuck := time.Now() // since when some message has been in delivery
	for time.Now().Before(deadline) {
		n, active := 0, 0
		var next time.Time
		r.store.View(func(tx *queue.Tx) error {
			tx.ForEach(func(m *queue.Message, err error) bool {
				n++
				switch {
				case err != nil || m.State != queue.Ready:
					active++
				case next.IsZero() || m.NextAttempt.Before(next):
					next = m.NextAttempt
				}
				return true
			})
			return nil
		})
		if n == 0 {
			return
		}
		if active == 0 && next.After(r.clk.Now()) {
			r.clk.Advance(next.Sub(r.clk.Now()))
		}
		switch {
		case active == 0:
			stuck = time.Now()
		case time.Since(stuck) > 500*time.Millisecond:
			// An attempt whose results commit failed (a test that broke
			// the database's writes) stays in delivery until the
			// manager's stranded retry, on the fake clock (queue
			// stranded.go): let that time pass.
			r.clk.Advance(5 * time.Second)
			stuck = time.Now()
		}
		r.mgr.Kick()
		time.Sleep(2 * time.Millisecond)
	}
	var left []string
	r.store.View(func(tx *queue.Tx) error {
		tx.ForEach(func(m *queue.Message, err error) bool {
			if err != nil {
				left = append(left, err.Error())
			} else {
				left = append(left, fmt.Sprintf("%s %v next %s", m.ID, m.State, m.NextAttempt.Sub(r.clk.Now())))
			}
			return len(left) < 10
		})
		return nil
	})
	r.t.Fatalf("the queue did not empty: %v", left)
}

// waitCount waits (a bounded time) until the observer has heard want
// evictions for reason and returns the count: the observer hears of a
// commit after it, so the queue can be empty a moment before.
func (r *rig) waitCount(reason string, want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for r.obs.get(reason) < want && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	return r.obs.get(reason)
}

// waitKept waits (a bounded time) until the observer has heard want
// copies kept and returns the count: it hears of a commit after it, so
// the queue can be empty a moment before (a count past want stays).
func (r *rig) waitKept(want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.obs.mu.Lock()
		n := r.obs.kept
		r.obs.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *rig) copies(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered[key]
}

// kept lists database db's copies by Message-ID, oldest first.
func (r *rig) kept(db string) []string {
	es, err := r.d.List(db, time.Time{}, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, strings.Trim(e.MessageID, "<>@test"))
	}
	return out
}

// Each database keeps at most its size; the oldest copies go first, in
// the commit of the delivery that overflowed it. A message bigger than
// the bound is not kept at all.
func TestRetentionBySize(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 3000, MaxTime: time.Hour})
	for i := 1; i <= 5; i++ {
		r.send(i, 1000)
		r.clk.Advance(time.Second)
	}
	r.send(6, 1000, "db2-carol@example.test")
	if got := strings.Join(r.kept("DB1"), " "); got != "3 4 5" {
		t.Errorf("DB1 keeps %q, want the newest three: 3 4 5", got)
	}
	if got := strings.Join(r.kept("DB2"), " "); got != "6" {
		t.Errorf("DB2 keeps %q; the databases' bounds are apart", got)
	}
	if r.waitCount(ReasonSize, 2) != 2 {
		t.Errorf("%d size evictions, want 2", r.obs.get(ReasonSize))
	}
	r.send(7, 5000)
	if got := strings.Join(r.kept("DB1"), " "); got != "3 4 5" || r.waitCount(ReasonTooBig, 1) != 1 {
		t.Errorf("after a message over the bound: %q, too_big %d", got, r.obs.get(ReasonTooBig))
	}
	ss, _ := r.d.Summaries()
	if len(ss) != 2 || ss[0].Database != "DB1" || ss[0].Messages != 3 || ss[0].Bytes != 3000 {
		t.Errorf("summaries %+v", ss)
	}
	// Lowering the bound (a reload) is enforced by the next prune.
	r.d.SetConfig(Config{MaxSizePerDatabase: 1500, MaxTime: time.Hour})
	if n, err := r.d.Prune(context.Background()); err != nil || n != 2 {
		t.Errorf("prune after lowering the bound: %d, %v", n, err)
	}
	if got := strings.Join(r.kept("DB1"), " "); got != "5" {
		t.Errorf("DB1 keeps %q, want 5", got)
	}
}

// Copies older than max_dumpster_time are pruned, oldest first, and the
// running totals follow.
func TestRetentionByAge(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: time.Hour})
	for i := 1; i <= 4; i++ {
		r.send(i, 500)
		r.clk.Advance(20 * time.Minute)
	}
	// Now t0+80m: copies kept at 0, 20, 40, 60 minutes.
	if n, err := r.d.Prune(context.Background()); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if got := strings.Join(r.kept("DB1"), " "); got != "2 3 4" {
		t.Errorf("kept %q, want 2 3 4", got)
	}
	r.clk.Advance(time.Hour)
	r.d.Prune(context.Background())
	if got := r.kept("DB1"); len(got) != 0 || r.obs.get(ReasonAge) != 4 {
		t.Errorf("kept %q after everything aged out, %d age evictions", got, r.obs.get(ReasonAge))
	}
	ss, _ := r.d.Summaries()
	if len(ss) != 0 {
		t.Errorf("summaries of an empty dumpster: %+v", ss)
	}
}

// Prune works in bounded transactions and still empties a large backlog.
func TestPruneBacklogInSteps(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 30, MaxTime: time.Hour})
	err := r.store.Update(context.Background(), func(tx *queue.Tx) error {
		for i := 0; i < 3*pruneBatch+7; i++ {
			m := &queue.Message{ID: queue.ID(i + 1), State: queue.Ready, MessageID: fmt.Sprint(i), Rcpts: []queue.Recipient{{Addr: "b@x.test"}}}
			if err := tx.DumpsterPut(queue.DumpsterKey{Database: "DB1", KeptAt: t0.Add(time.Duration(i)), ID: m.ID}, m, []byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(2 * time.Hour)
	if n, err := r.d.Prune(context.Background()); err != nil || n != 3*pruneBatch+7 {
		t.Fatalf("pruned %d, %v", n, err)
	}
}

// A redelivery request resubmits exactly the copies kept in its window,
// after forgetting their duplicate records, so each is delivered once
// more; a repeated request id does nothing; a copy that comes back by
// another path (a takeover) is still suppressed.
func TestRedeliveryWindowAndIdempotence(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 5; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	r.send(9, 300, "db2-carol@example.test")
	since := t0.Add(2 * time.Minute) // messages 3, 4, 5
	r.clk.Advance(time.Minute)
	req, repeated, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", since)
	if err != nil || repeated != Carried || req.Resubmitted != 3 || req.Cleared != 3 || req.Phase != queue.Done {
		t.Fatalf("redeliver: %+v repeated %v err %v", req, repeated, err)
	}
	r.waitEmpty()
	for i, want := range []int{1, 1, 2, 2, 2} {
		if got := r.copies(fmt.Sprintf("<%d@test>|bob@example.test", i+1)); got != want {
			t.Errorf("message %d delivered %d times, want %d", i+1, got, want)
		}
	}
	if r.copies("<9@test>|db2-carol@example.test") != 1 {
		t.Error("another database's mail was redelivered")
	}
	// The resubmitted copies are back in the dumpster, newest.
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2 3 4 5" {
		t.Errorf("kept %q after redelivery", got)
	}
	// The same request again: nothing is done.
	r.clk.Advance(time.Minute)
	req2, repeated, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", since)
	if err != nil || repeated != Repeated || req2.Resubmitted != 3 {
		t.Fatalf("repeated request: %+v repeated %v err %v", req2, repeated, err)
	}
	r.waitEmpty()
	if got := r.copies("<3@test>|bob@example.test"); got != 2 {
		t.Errorf("a repeated request delivered message 3 again (%d copies)", got)
	}
	// The id cannot be reused for another window.
	if _, _, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0); !errors.Is(err, ErrRequestConflict) {
		t.Errorf("reused request id: %v", err)
	}
	// A takeover resubmits message 4 from elsewhere: suppressed.
	r.send(4, 300)
	if got := r.copies("<4@test>|bob@example.test"); got != 2 || r.dups != 1 {
		t.Errorf("takeover copy: %d copies, %d duplicates suppressed", got, r.dups)
	}
}

// A request a crash interrupted (stored, not done) is finished at start.
func TestInterruptedRequestResumes(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 3; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	err := r.store.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.PutRequest(&queue.Request{ID: "crashed", Database: "DB1", Since: t0, Started: r.clk.Now(), FirstID: tx.NewID(r.clk.Now())})
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.copies("<3@test>|bob@example.test") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	r.waitEmpty()
	for i := 1; i <= 3; i++ {
		if got := r.copies(fmt.Sprintf("<%d@test>|bob@example.test", i)); got != 2 {
			t.Errorf("message %d: %d copies after the resumed request", i, got)
		}
	}
	var req *queue.Request
	r.store.View(func(tx *queue.Tx) error { req, _ = tx.Request("crashed"); return nil })
	if req == nil || req.Phase != queue.Done || req.Resubmitted != 3 {
		t.Errorf("request after resuming: %+v", req)
	}
}

// A resubmitted copy does not announce success again, and keeps what
// it needs for delivery.
func TestCopy(t *testing.T) {
	m := &queue.Message{ID: 7, From: "a@x", MessageID: "<m@x>", OrgID: "0123456789abcdef0123456789abcdef", UTF8: true, RequireTLS: true, Internal: true, Rcpts: []queue.Recipient{
		{Addr: "b@y", Notify: queue.NotifySuccess, Status: queue.Delivered, Queue: "mailbox:DB1", LastReply: "250"},
		{Addr: "c@y", Notify: queue.NotifySuccess | queue.NotifyFailure, Status: queue.Delivered},
		{Addr: "d@z", Status: queue.Relayed},
	}}
	cp := Copy(m, []int{0, 1})
	if len(cp.Rcpts) != 2 || cp.Rcpts[0].Notify != queue.NotifyNever || cp.Rcpts[1].Notify != queue.NotifyFailure ||
		cp.Rcpts[0].Status != queue.Pending || cp.Rcpts[0].Queue != "" || !cp.UTF8 || cp.MessageID != "<m@x>" || cp.OrgID != m.OrgID ||
		!cp.RequireTLS || !cp.Internal {
		t.Errorf("copy %+v (the organisation message id, REQUIRETLS and the origin must stay: SR-14, RFC 8689)", cp)
	}
}

// rt11 F4: a redelivery request puts every copy of its window back in
// the queue; the mailbox store still has most of them (only the lagging
// copy lost some) and suppresses those as duplicates. Each copy returns
// to the dumpster all the same: before, the suppressed ones left it for
// good, and a second failover within max_dumpster_time could no longer
// bring them back.
func TestRedeliverySuppressedCopiesStayInDumpster(t *testing.T) {
	r := newRig(t, Config{MaxSizePerDatabase: 1 << 20, MaxTime: 24 * time.Hour})
	for i := 1; i <= 3; i++ {
		r.send(i, 300)
		r.clk.Advance(time.Minute)
	}
	r.mu.Lock()
	r.storeDedup = true
	delete(r.delivered, "<2@test>|bob@example.test") // the failover lost message 2 only
	r.mu.Unlock()
	req, _, err := r.d.Redeliver(context.Background(), "fo-1", "DB1", t0)
	if err != nil || req.Resubmitted != 3 {
		t.Fatalf("redeliver: %+v %v", req, err)
	}
	r.waitEmpty()
	if got := r.copies("<2@test>|bob@example.test"); got != 1 {
		t.Errorf("the lost message is in the mailbox %d times, want 1", got)
	}
	if r.dups != 2 {
		t.Errorf("%d duplicates suppressed, want 2", r.dups)
	}
	if got := strings.Join(r.kept("DB1"), " "); got != "1 2 3" {
		t.Errorf("kept %q after the redelivery, want every copy back", got)
	}
}
