package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// queuedDeliverer defers everything into "mx:<domain>" — a redirected
// recipient into "redirect:<target>", as delivery routes it — until told
// to accept, and records attempts.
func queuedDeliverer(accept *bool) (*scripted, Deliverer) {
	d := newScripted(func(string, int) (Outcome, string) {
		if *accept {
			return RelayedOK, "250 ok"
		}
		return Deferred, "451 4.4.1 try later"
	})
	return d, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		res := d.Deliver(ctx, m, b, rcpts)
		for k := range res {
			r := m.Rcpts[res[k].Rcpt]
			res[k].Queue = "mx:" + r.Addr[strings.IndexByte(r.Addr, '@')+1:]
			if r.Redirect != "" { // as delivery routes a redirected recipient (plan.go)
				res[k].Queue = "redirect:" + r.Redirect
			}
		}
		return res
	})
}

// slowQueue is a manager over a fresh store whose deliverer
// (queuedDeliverer) defers every message into mx:<domain> until
// *accept is set, with the messages submitted to it.
type slowQueue struct {
	s      *Store
	q      *Manager
	d      *scripted
	del    Deliverer
	clk    *clock.Fake
	accept *bool
	ctx    context.Context // the manager's: ended, and the manager waited for, when the test ends
	ms     []*Message
}

// deferredSlowQueue starts a slowQueue and submits n messages for
// x@slow.example, each attempted and deferred once into
// mx:slow.example (retry is the schedule's one step).
func deferredSlowQueue(t *testing.T, n int, retry time.Duration) *slowQueue {
	t.Helper()
	sq := &slowQueue{s: openTest(t), clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), accept: new(bool)}
	sq.d, sq.del = queuedDeliverer(sq.accept)
	sq.q = NewManager(sq.s, sq.del, ManagerConfig{Clock: sq.clk, RetrySchedule: []time.Duration{retry}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); sq.q.Wait() })
	sq.ctx = ctx
	sq.q.Start(ctx)
	for range n {
		m := msg(sq.s, "a@example.org", "x@slow.example")
		if err := sq.q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		sq.ms = append(sq.ms, m)
	}
	for _, m := range sq.ms {
		sq.d.wait(t)
		waitFor(t, "the deferral", func() bool {
			got, _ := sq.q.Message(m.ID)
			return got.State == Ready && got.Attempts == 1
		})
	}
	return sq
}

// suspendedSlowQueue is a suspended queue with n messages:
// deferredSlowQueue, then mx:slow.example suspended.
func suspendedSlowQueue(t *testing.T, n int, retry time.Duration) *slowQueue {
	t.Helper()
	sq := deferredSlowQueue(t, n, retry)
	if err := sq.q.SuspendQueue(sq.ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	return sq
}

func TestSuspendResumeRetryQueue(t *testing.T) {
	sq := deferredSlowQueue(t, 1, time.Minute)
	s, q, d, del, clk, ctx, m := sq.s, sq.q, sq.d, sq.del, sq.clk, sq.ctx, sq.ms[0]
	info := func() QueueInfo {
		qs, err := q.Queues()
		if err != nil {
			t.Fatal(err)
		}
		for _, qi := range qs {
			if qi.Name == "mx:slow.example" {
				return qi
			}
		}
		return QueueInfo{}
	}
	waitFor(t, "retry status", func() bool { return info().Status == "retry" })
	qi := info()
	if qi.Count != 1 || qi.LastError != "451 4.4.1 try later" || qi.DeliveryType != "smtp-mx" || qi.NextRetry.IsZero() {
		t.Fatalf("queue info: %+v", qi)
	}

	if err := q.SuspendQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	if qi := info(); qi.Status != "suspended" || !qi.NextRetry.IsZero() {
		t.Fatalf("after suspend: %+v; want suspended with no next retry", qi)
	}
	clk.Advance(2 * time.Minute) // the retry falls due, but the queue is suspended
	waitFor(t, "the message to be held", func() bool {
		m, _ := q.Message(m.ID)
		return m.State == Ready && m.NextAttempt.After(clk.Now().Add(30*time.Minute))
	})
	select {
	case <-d.calls:
		t.Fatal("a suspended queue was delivered")
	case <-time.After(50 * time.Millisecond):
	}
	// A suspension survives a restart of the manager.
	if !NewManager(s, del, ManagerConfig{}).suspended["mx:slow.example"] {
		t.Fatal("suspension not persisted")
	}
	*sq.accept = true
	if n, err := q.ResumeQueue(ctx, "mx:slow.example"); err != nil || n != 1 {
		t.Fatalf("resume: %d messages due, %v; want the 1 held", n, err)
	}
	d.wait(t)
	waitFor(t, "delivery after resume", func() bool { return len(messages(t, s)) == 0 })
}

func TestSuspendResumeRemoveMessage(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	m := msg(s, "a@example.org", "x@slow.example", "y@slow.example")
	m.Rcpts[1].Notify = NotifyNever
	q.Submit(ctx, m, []byte(body))
	d.wait(t)
	waitFor(t, "deferral", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })

	if err := q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	select {
	case <-d.calls:
		t.Fatal("a suspended message was attempted")
	case <-time.After(50 * time.Millisecond):
	}
	if got, _ := q.Messages(MessageFilter{State: "suspended", To: "X@SLOW"}); len(got) != 1 {
		t.Fatalf("filtered list: %d", len(got))
	}
	if err := q.ResumeMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "deferral again", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })

	if err := q.RemoveMessage(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed message still there: %v", err)
	}
	// The NDR goes to the sender, for x only (y asked NOTIFY=NEVER).
	d.wait(t)
	d.mu.Lock()
	ndr := d.seen[len(d.seen)-1]
	d.mu.Unlock()
	if ndr.From != "" || ndr.Rcpts[0].Addr != "a@example.org" || !strings.Contains(ndr.Helo, "Final-Recipient: rfc822; x@slow.example") ||
		strings.Contains(ndr.Helo, "y@slow.example") || !strings.Contains(ndr.Helo, "Status: 5.3.0") {
		t.Fatalf("NDR:\n%s", ndr.Helo)
	}
	// The removal was this server's: the NDR names no Remote-MTA that
	// never answered, and no reply of the last next hop.
	if strings.Contains(ndr.Helo, "Remote-MTA") || strings.Contains(ndr.Helo, "mx.example.org") ||
		!strings.Contains(ndr.Helo, "removed by the administrator of mx.test") {
		t.Errorf("the administrator's NDR misattributes the failure:\n%s", ndr.Helo)
	}
}

func TestChangesRefuseActiveMessages(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	m := msg(s, "a@example.org", "b@example.net")
	m.State = Active
	s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) })
	for name, err := range map[string]error{
		"suspend": q.SuspendMessage(context.Background(), m.ID),
		"resume":  q.ResumeMessage(context.Background(), m.ID),
		"remove":  q.RemoveMessage(context.Background(), m.ID, false),
	} {
		if !errors.Is(err, ErrBusy) {
			t.Errorf("%s of an active message: %v", name, err)
		}
	}
	if err := q.SuspendMessage(context.Background(), 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

// A message received in a shadow session leaves a discard notification
// for its shadow server when every recipient is done (SR-4), in the same
// commit; notifications survive a restart and are forgotten only on ack.
func TestDiscardNotifications(t *testing.T) {
	path := t.TempDir() + "/queue.db"
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// a@example.org is the senders: their DSNs are relayed.
	outcome := map[string]Outcome{"ok@x.example": RelayedOK, "bad@x.example": FailedPerm, "later@x.example": Deferred,
		"a@example.org": RelayedOK}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: outcome[m.Rcpts[i].Addr], Reply: "x"})
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	submit := func(shadowID string, rcpts ...string) ID {
		m := msg(s, "a@example.org", rcpts...)
		m.ShadowServer, m.ShadowID = "hub-x", shadowID
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	submit("s-relayed", "ok@x.example")
	submit("s-failed", "bad@x.example") // finally failed: done once its DSN is relayed
	pending := submit("s-pending", "ok@x.example", "later@x.example")
	waitFor(t, "two notifications", func() bool { ids, _ := q.Discards("hub-x", 10); return len(ids) == 2 })
	if ids, _ := q.Discards("hub-y", 10); len(ids) != 0 {
		t.Fatalf("notifications for another server: %v", ids)
	}
	waitFor(t, "the pending message to be deferred", func() bool {
		m, _ := q.Message(pending)
		return m != nil && m.State == Ready && m.Attempts == 1
	})
	if err := q.RemoveMessage(ctx, pending, false); err != nil {
		t.Fatal(err)
	}
	cancel()
	q.Wait()
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, d, ManagerConfig{})
	ids, ack := q.Discards("hub-x", 2)
	if len(ids) != 2 {
		t.Fatalf("after a restart: %v", ids)
	}
	ack()
	rest, ack2 := q.Discards("hub-x", 10)
	if len(rest) != 1 || rest[0] == ids[0] || rest[0] == ids[1] {
		t.Fatalf("after an ack of two: %v (acked %v)", rest, ids)
	}
	ack2()
	if left, _ := q.Discards("hub-x", 10); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
	// Stale notifications are pruned after the message expiration.
	s.Update(context.Background(), func(tx *Tx) error { return tx.AddDiscard("gone", "old", time.Now().Add(-72*time.Hour)) })
	q.pruneDiscards(time.Now())
	if left, _ := q.Discards("gone", 10); len(left) != 0 {
		t.Fatalf("stale notification kept: %v", left)
	}
}

// A recipient a primary took in a shadow session keeps the message as a
// shadow copy in shadow:PRIMARY; the primary's discards release it, and a
// takeover puts its recipients back into routing.
func TestShadowCopies(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	shadowing, noRoute := true, false
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			if noRoute {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", NextHop: "hub-b", Reply: "451 4.4.1 connection refused"})
			} else if shadowing {
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Reply: "250 ok",
					Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
			} else {
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "site:c", Reply: "250 ok"})
			}
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m1, m2 := msg(s, "a@example.org", "x@c.example"), msg(s, "a@example.org", "y@c.example")
	m1.Arrived, m2.Arrived = clk.Now(), clk.Now()
	q.Submit(ctx, m1, []byte(body))
	q.Submit(ctx, m2, []byte(body))
	waitFor(t, "two shadow copies", func() bool {
		qs, _ := q.Queues()
		return len(qs) == 1 && qs[0].Name == "shadow:hub-b" && qs[0].Count == 2 && qs[0].DeliveryType == "shadow"
	})
	// Copies only held are not this server's to deliver: the queue shows
	// them as its messages show (rt24 F4), not "ready".
	if qs, _ := q.Queues(); qs[0].Status != "shadow" || qs[0].ByState["shadow"] != 2 {
		t.Fatalf("a shadow queue of held copies: status %q, by state %v; want shadow", qs[0].Status, qs[0].ByState)
	}
	if p, _ := q.ShadowPrimaries(); p["hub-b"] != "127.0.0.2:25" {
		t.Fatalf("primaries: %v", p)
	}
	// Unknown and foreign ids change nothing.
	if n, _ := q.ApplyDiscards("hub-b", []string{"nonsense", "000000000000FFFF-b", m1.ID.String() + "-other"}); n != 0 {
		t.Fatalf("unknown ids discarded %d copies", n)
	}
	if n, _ := q.ApplyDiscards("hub-z", []string{m1.ID.String() + "-b"}); n != 0 {
		t.Fatal("another primary's discard was applied")
	}
	if n, _ := q.ApplyDiscards("hub-b", []string{m1.ID.String() + "-b"}); n != 1 {
		t.Fatal("discard not applied")
	}
	if _, err := q.Message(m1.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("a discarded copy is still there")
	}
	// hub-b fails while no other route answers: m2 is pending again but
	// stays in the shadow queue (SR-6)...
	mu.Lock()
	shadowing, noRoute = false, true
	mu.Unlock()
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d %v", n, err)
	}
	waitFor(t, "an attempt without a route", func() bool {
		m, err := q.Message(m2.ID)
		return err == nil && m.Attempts > 0 && m.State == Ready
	})
	if qs, _ := q.Queues(); len(qs) != 1 || qs[0].Name != "shadow:hub-b" || qs[0].ByState["retry"] != 1 || qs[0].Status != "retry" {
		t.Fatalf("queues after a takeover without a route: %+v", qs)
	}
	// ...until a route appears, and it is delivered another way.
	mu.Lock()
	noRoute = false
	mu.Unlock()
	clk.Advance(time.Hour)
	q.Kick()
	waitFor(t, "the taken-over message to be delivered", func() bool { _, err := q.Message(m2.ID); return errors.Is(err, ErrNotFound) })
	if p, _ := q.ShadowPrimaries(); len(p) != 0 {
		t.Fatalf("primaries after takeover: %v", p)
	}
}

// A primary can hand over the discard before this server has committed
// the result that made the copy a shadow copy; the discard is kept aside
// and consumed by that commit, so the copy does not linger.
func TestEarlyDiscard(t *testing.T) {
	s := openTest(t)
	var q *Manager
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		sid := m.ID.String() + "-b"
		if n, err := q.ApplyDiscards("hub-b", []string{sid}); n != 1 || err != nil {
			t.Errorf("early discard: %d %v", n, err)
		}
		return []Result{{Rcpt: 0, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid}}
	})
	q = NewManager(s, d, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@c.example")
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the message to go", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
	var early int
	s.View(func(tx *Tx) error { early = tx.tx.Bucket(bucketEarly).Stats().KeyN; return nil })
	if early != 0 {
		t.Fatalf("%d early discards left over", early)
	}
}

// The red-team's lingering copy (chaos run, edge killed between the
// primary's 250 and its own commit): after the restart the message is
// sent again to the same primary under the same shadow id (the id is
// the message's and the primary's, not the recipient's), and the
// discard of the first copy — which the primary delivered meanwhile —
// arrives while the resend is in delivery. One discard covers every
// recipient shadowed under that id; the commit consumed the early
// discard at the first recipient and left the second shadowed with a
// healthy primary until expiry, then took it over: a duplicate.
func TestEarlyDiscardCoversEveryRecipient(t *testing.T) {
	s := openTest(t)
	var q *Manager
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		sid := m.ID.String() + "-b"
		if n, err := q.ApplyDiscards("hub-b", []string{sid}); n != 1 || err != nil {
			t.Errorf("early discard: %d %v", n, err)
		}
		var res []Result
		for _, i := range rcpts {
			res = append(res, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid})
		}
		return res
	})
	q = NewManager(s, d, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "bob@c.example", "carol@c.example")
	q.Submit(ctx, m, []byte(body))
	var got *Message
	waitFor(t, "the attempt's commit", func() bool {
		var err error
		got, err = q.Message(m.ID)
		return errors.Is(err, ErrNotFound) || err == nil && got.State != Active && got.Rcpts[0].Status != Pending
	})
	if got != nil {
		if _, err := q.Message(m.ID); err == nil {
			t.Fatalf("the copy lingers after its primary's discard: state %v, rcpts %+v", got.State, got.Rcpts)
		}
	}
	var early int
	s.View(func(tx *Tx) error { early = tx.tx.Bucket(bucketEarly).Stats().KeyN; return nil })
	if early != 0 {
		t.Fatalf("%d early discards left over", early)
	}
}

// Final deliveries are recorded by database, organisation message id and
// recipient in the commit of their results; a claim keeps a second copy
// from being delivered while the first is in flight.
func TestDeliveredRecord(t *testing.T) {
	s := openTest(t)
	var q *Manager
	inFlight := make(chan Claim, 1)
	q = NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if q.ClaimFinal(m.ID, "DB1", m.OrgID, m.Rcpts[0].Addr) != Fresh {
			t.Error("first claim refused")
		}
		inFlight <- q.ClaimFinal(m.ID+1, "DB1", m.OrgID, m.Rcpts[0].Addr)
		return []Result{{Rcpt: 0, Outcome: DeliveredOK, Reply: "250", Database: "DB1"}}
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "bob@example.test")
	m.MessageID = "<abc@example.org>"
	q.Submit(ctx, m, []byte(body))
	if c := <-inFlight; c != Busy {
		t.Fatalf("second copy in flight: claim %d, want Busy", c)
	}
	if m.OrgID == "" {
		t.Fatal("Submit gave the message no org id")
	}
	waitFor(t, "delivery", func() bool { return q.ClaimFinal(m.ID+1, "DB1", m.OrgID, "BOB@example.test") == Duplicate })
	for _, c := range []struct{ db, org, rcpt string }{
		{"DB1", m.OrgID, "alice@example.test"}, {"DB2", m.OrgID, "bob@example.test"},
		{"DB1", "<abc@example.org>", "bob@example.test"}, {"DB1", "ffffffffffffffffffffffffffffffff", "bob@example.test"},
	} {
		if q.ClaimFinal(m.ID+2, c.db, c.org, c.rcpt) != Fresh {
			t.Errorf("%v: records match too much", c)
		}
	}
}

// Issue 19 defect 6: duplicate suppression identifies copies of one
// transport message, not messages sharing a sender-controlled header.
// Two different messages with the same Message-ID to one recipient are
// both delivered; two copies of one message without any Message-ID are
// delivered once.
func TestDuplicateKeyIsTheOrgID(t *testing.T) {
	s := openTest(t)
	var q *Manager
	var mu sync.Mutex
	written := map[ID]int{}
	dups := 0
	q = NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			r := Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250", Database: "DB1"}
			switch q.ClaimFinal(m.ID, "DB1", m.OrgID, m.Rcpts[i].Addr) {
			case Duplicate:
				r.Duplicate = true
				mu.Lock()
				dups++
				mu.Unlock()
			case Busy:
				r.Outcome = Deferred
			default:
				mu.Lock()
				written[m.ID]++
				mu.Unlock()
			}
			out = append(out, r)
		}
		return out
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	gone := func(id ID) func() bool {
		return func() bool { _, err := q.Message(id); return errors.Is(err, ErrNotFound) }
	}
	// A list copy and the direct copy: same Message-ID, two messages.
	a, b := msg(s, "a@example.org", "bob@example.test"), msg(s, "list@example.org", "bob@example.test")
	a.MessageID, b.MessageID = "<same@example.org>", "<same@example.org>"
	q.Submit(ctx, a, []byte(body))
	waitFor(t, "first delivery", gone(a.ID))
	q.Submit(ctx, b, []byte(body))
	waitFor(t, "second delivery", gone(b.ID))
	// One message without Message-ID, and a copy of it resubmitted (a
	// takeover): one org id, delivered once.
	c := msg(s, "a@example.org", "carol@example.test")
	q.Submit(ctx, c, []byte(body))
	waitFor(t, "third delivery", gone(c.ID))
	cp := msg(s, "a@example.org", "carol@example.test")
	cp.OrgID = c.OrgID
	q.Submit(ctx, cp, []byte(body))
	waitFor(t, "the copy", gone(cp.ID))
	mu.Lock()
	defer mu.Unlock()
	if written[a.ID] != 1 || written[b.ID] != 1 {
		t.Errorf("same Message-ID, different messages: written %d and %d times, want 1 and 1", written[a.ID], written[b.ID])
	}
	if written[c.ID] != 1 || written[cp.ID] != 0 || dups != 1 {
		t.Errorf("copy without Message-ID: written %d and %d times, %d suppressed; want 1, 0, 1", written[c.ID], written[cp.ID], dups)
	}
}

// The claim and the record are checked under one lock: a copy that asks
// while another copy's commit and release happen sees either the claim
// (Busy) or the record (Duplicate), never neither (issue 19 defect 6:
// ClaimFinal read the record before taking the claim lock).
func TestClaimFinalCheckThenClaimRace(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	org := "0123456789abcdef0123456789abcdef"
	for round := 0; round < 300; round++ {
		db := fmt.Sprintf("DB%d", round)
		first := ID(2 * round)
		if q.ClaimFinal(first+1, db, org, "bob@example.test") != Fresh {
			t.Fatal("first claim refused")
		}
		var second Claim
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				if second = q.ClaimFinal(first+2, db, org, "bob@example.test"); second != Busy || i > 1e6 {
					return
				}
				runtime.Gosched()
			}
		}()
		// The first copy commits its delivery, then releases its claim,
		// as finish and dispatch do.
		runtime.Gosched()
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.RecordDelivered(db, org, "bob@example.test", time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		q.releaseClaims(first + 1)
		<-done
		if second != Duplicate {
			t.Fatalf("round %d: second copy got claim %d after the first was recorded, want Duplicate", round, second)
		}
	}
}

// SR-13 (issue 19 defect 9): a shadow copy whose primary never confirmed
// it within message_expiration is taken over and routed, and bounced with
// a DSN when no route takes it — never deleted without a trace.
func TestUnconfirmedShadowCopyExpiresWithDSN(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 no route" })
	q := NewManager(s, d, ManagerConfig{MessageExpiration: time.Hour, Clock: clk, Hostname: "edge.test"})
	old := msg(s, "a@example.org", "x@example.net")
	old.State, old.Arrived = Shadow, clk.Now().Add(-3*time.Hour) // expiration and grace passed
	old.Rcpts[0].Status, old.Rcpts[0].Primary, old.Rcpts[0].ShadowID = Shadowed, "hub-b", "x-b"
	old.Rcpts[0].Notify = NotifyFailure
	fresh := msg(s, "a@example.org", "y@example.net")
	fresh.State, fresh.Arrived = Shadow, clk.Now().Add(-90*time.Minute) // expired, within the grace
	fresh.Rcpts[0].Status, fresh.Rcpts[0].Primary, fresh.Rcpts[0].ShadowID = Shadowed, "hub-b", "y-b"
	s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(old, []byte(body)); err != nil {
			return err
		}
		return tx.PutNew(fresh, []byte(body))
	})
	q.pruneDiscards(clk.Now())
	m, err := q.Message(old.ID)
	if err != nil || m.State != Ready || m.Rcpts[0].Status != Pending || m.Rcpts[0].Queue != "shadow:hub-b" {
		t.Fatalf("an unconfirmed expired copy was not taken over: %+v %v", m, err)
	}
	if m, err := q.Message(fresh.ID); err != nil || m.State != Shadow {
		t.Fatalf("a fresh shadow copy was changed: %+v %v", m, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the expired copy to bounce", func() bool {
		_, err := q.Message(old.ID)
		return errors.Is(err, ErrNotFound)
	})
	var dsn *Message
	for _, m := range messages(t, s) {
		if m.Connector == "dsn" {
			dsn = m
		}
	}
	if dsn == nil || dsn.Rcpts[0].Addr != "a@example.org" {
		t.Fatalf("no DSN to the sender of the expired copy: %+v", dsn)
	}
}

// A discard for a recipient shadowed by an earlier attempt, arriving while
// another recipient of the same message is being retried, is applied when
// that retry's results are committed.
func TestEarlyDiscardForEarlierAttempt(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var q *Manager
	attempt := 0
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		attempt++
		var out []Result
		for _, i := range rcpts {
			switch {
			case m.Rcpts[i].Addr == "x@b.example":
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
			case attempt == 1:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 later"})
			default:
				// While y is retried, hub-b discards x's copy.
				q.ApplyDiscards("hub-b", []string{m.ID.String() + "-b"})
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250"})
			}
		}
		return out
	})
	q = NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example", "y@c.example")
	m.Arrived = clk.Now()
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the first attempt", func() bool { got, _ := q.Message(m.ID); return got != nil && got.Attempts == 1 })
	clk.Advance(2 * time.Minute)
	waitFor(t, "the message to go", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
}

// Issue 20 item 4: a primary back with its old database still holds the
// original when the shadow server, which took it over meanwhile,
// resubmits its copy (same organisation message id). The copy's
// recipients that the original holds are merged into it — accepted and
// dropped, never relayed a second time — and counted; a recipient the
// original lacks stays. The sender's shadow copy is discarded by the
// original's own discard, which names the same shadow id. A copy under
// another id is not merged while the original owes its recipient: its
// discard would be owed at once, and the sender's copy — the original's
// only other one — dropped (the message on one disk); it is queued as a
// record of its own, a duplicate.
func TestResubmittedCopyMergesIntoQueuedOriginal(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	sent := map[string]int{} // org id|rcpt → relayed
	accept := false
	var events []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "duplicate-suppressed" {
			mu.Lock()
			events = append(events, r.Addr+" "+r.Queue)
			mu.Unlock()
		}
	})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			if !accept {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:example.net", Reply: "451 4.4.1 later"})
				continue
			}
			sent[m.OrgID+"|"+m.Rcpts[i].Addr]++
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.net", Reply: "250 ok"})
		}
		return out
	}), ManagerConfig{Events: ev, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	org := "0123456789abcdef0123456789abcdef"
	orig := msg(s, "a@example.org", "ext@example.net")
	orig.OrgID, orig.ShadowServer, orig.ShadowID = org, "edge", "0001-aa"
	if err := q.Submit(ctx, orig, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first attempt", func() bool { m, err := q.Message(orig.ID); return err == nil && m.State == Ready && m.Attempts > 0 })
	discards := func(server string) []string {
		var ids []string
		s.View(func(tx *Tx) error { ids = tx.Discards(server, 100); return nil })
		return ids
	}

	// The same copy again, same shadow id: merged, nothing queued, and
	// the original's discard will cover the sender's copy.
	cp := msg(s, "a@example.org", "EXT@example.net")
	cp.OrgID, cp.ShadowServer, cp.ShadowID = org, "edge", "0001-aa"
	if err := q.Submit(ctx, cp, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(cp.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the resubmitted copy was queued: %v", err)
	}
	if d := discards("edge"); len(d) != 0 {
		t.Fatalf("discard owed before the original is done: %v", d)
	}
	// Under another shadow id, the original owing the recipient: merged,
	// the sender's copy carried by the original (carried.go) — no
	// discard owed for it now, one when the original ends.
	cp2 := msg(s, "a@example.org", "ext@example.net")
	cp2.OrgID, cp2.ShadowServer, cp2.ShadowID = org, "edge", "0002-bb"
	q.Submit(ctx, cp2, []byte(body))
	if _, err := q.Message(cp2.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a copy under another id queued beside the original that owes its recipient: %v", err)
	}
	if d := discards("edge"); len(d) != 0 {
		t.Fatalf("discards for a copy of another shadow id: %v", d)
	}
	// A copy with one recipient more: only that one is queued.
	cp3 := msg(s, "a@example.org", "ext@example.net", "other@example.net")
	cp3.OrgID, cp3.ShadowServer, cp3.ShadowID = org, "edge", "0001-aa"
	q.Submit(ctx, cp3, []byte(body))
	m3, err := q.Message(cp3.ID)
	if err != nil || len(m3.Rcpts) != 1 || m3.Rcpts[0].Addr != "other@example.net" {
		t.Fatalf("partly merged copy: %+v %v", m3, err)
	}
	// A message of another org id is never merged.
	other := msg(s, "a@example.org", "ext@example.net")
	q.Submit(ctx, other, []byte(body))
	if _, err := q.Message(other.ID); err != nil {
		t.Fatalf("another message was merged: %v", err)
	}

	waitFor(t, "first attempts", func() bool {
		for _, id := range []ID{cp3.ID, other.ID} {
			if m, err := q.Message(id); err != nil || m.State != Ready || m.Attempts == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	accept = true
	mu.Unlock()
	if n, err := q.RetryQueue(ctx, "mx:example.net"); n != 3 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	q.Kick()
	waitFor(t, "every message to go", func() bool {
		for _, id := range []ID{orig.ID, cp3.ID, other.ID} {
			if _, err := q.Message(id); err == nil {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if sent[org+"|ext@example.net"] != 1 || sent[org+"|other@example.net"] != 1 || sent[other.OrgID+"|ext@example.net"] != 1 {
		t.Errorf("relayed: %v; want each once (the copy under another id merged)", sent)
	}
	if len(events) != 3 {
		t.Errorf("merges counted: %v, want 3", events)
	}
	if d := discards("edge"); len(d) != 2 {
		t.Errorf("discards after the original finished: %v, want 0002-bb and 0001-aa", d)
	}
}

type eventsFunc func(name string, m *Message, r *Recipient, reply string)

func (f eventsFunc) Event(name string, m *Message, r *Recipient, reply string) { f(name, m, r, reply) }

// A copy of a message this server still holds is not merged when it
// comes back from the primary of a recipient this server shadows, nor
// for a recipient the original already relayed: a copy routed back here
// must be delivered (a loss is worse than a duplicate).
func TestCopyFromItsOwnPrimaryIsNotMerged(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	org := "0123456789abcdef0123456789abcdef"
	orig := msg(s, "a@example.org", "shadowed@example.net", "relayed@example.net")
	orig.OrgID, orig.State = org, Shadow
	orig.ShadowServer, orig.ShadowID = "edge", "z-e" // received from edge in a shadow session
	orig.Rcpts[0].Status, orig.Rcpts[0].Primary, orig.Rcpts[0].ShadowID = Shadowed, "hub-b", "x-b"
	orig.Rcpts[1].Status = Relayed
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(orig, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	back := msg(s, "a@example.org", "shadowed@example.net", "relayed@example.net")
	back.OrgID, back.ShadowServer, back.ShadowID = org, "hub-b", "y-b"
	// Not started: the copy stays queued where the test can look at it.
	q.cfg.MaxActive = 1
	q.reserve()
	if err := q.Submit(context.Background(), back, []byte(body)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(back.ID)
	if err != nil || len(got.Rcpts) != 2 {
		t.Fatalf("copy from its own primary: %+v %v", got, err)
	}
	// From the server the original came from (its shadow server,
	// resubmitting the copy it took over), the shadowed recipient is
	// merged: this server handed it on already.
	other := msg(s, "a@example.org", "shadowed@example.net")
	other.OrgID, other.ShadowServer, other.ShadowID = org, "edge", "z-e"
	q.Submit(context.Background(), other, []byte(body))
	if _, err := q.Message(other.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a resubmitted copy of a recipient handed on was queued: %v", err)
	}
}

// The commit that fails a shadowed message's last recipient makes the
// DSN; the discard for the shadow server waits until that DSN has left
// (it is the only trace of the failure on this server until then), so a
// lost primary before then leaves the shadow copy to fail it again.
func TestFailureDSNOwesTheDiscard(t *testing.T) {
	s, err := Open(t.TempDir()+"/queue.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	senderOK := false
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			switch {
			case m.Rcpts[i].Addr == "bad@x.example":
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Reply: "550 5.1.1 no"})
			case senderOK:
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
			}
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{RetrySchedule: []time.Duration{10 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "bad@x.example")
	m.ShadowServer, m.ShadowID = "hub-x", "s-failed"
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the DSN to be deferred", func() bool {
		var dsn *Message
		s.View(func(tx *Tx) error {
			tx.ForEach(func(x *Message, err error) bool {
				if err == nil && x.Connector == "dsn" && x.Attempts > 0 {
					dsn = x
				}
				return true
			})
			return nil
		})
		return dsn != nil
	})
	if ids, _ := q.Discards("hub-x", 10); len(ids) != 0 {
		t.Fatalf("discard written while the DSN is still here: %v", ids)
	}
	mu.Lock()
	senderOK = true
	mu.Unlock()
	q.Kick()
	waitFor(t, "the discard once the DSN left", func() bool {
		ids, _ := q.Discards("hub-x", 10)
		return len(ids) == 1 && ids[0] == "s-failed"
	})
}

// rt17 F2: mail that arrived while its queue was suspended was never
// attempted, so it is due already; resume released it but said 0. It
// now counts every waiting message of the queue it makes due.
func TestResumeCountsHeldNewMail(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	_, del := queuedDeliverer(&accept)
	q := NewManager(s, del, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := q.SuspendQueue(ctx, "mx:slow.example"); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	for i := 0; i < 3; i++ {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.example"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// Routed into the queue by a first attempt, and waiting there.
	waitFor(t, "three messages waiting in the queue", func() bool {
		n := 0
		s.View(func(tx *Tx) error {
			for _, id := range tx.InQueue("mx:slow.example", 10) {
				if m, err := tx.Get(id); err == nil && m.State == Ready {
					n++
				}
			}
			return nil
		})
		return n == 3
	})
	if n, err := q.ResumeQueue(ctx, "mx:slow.example"); err != nil || n != 3 {
		t.Fatalf("resume: %d messages due, %v; want 3", n, err)
	}
	// rt18e-F4: a queue not suspended has nothing to release.
	if n, err := q.ResumeQueue(ctx, "mx:other.example"); !errors.Is(err, ErrNotApplicable) || n != 0 {
		t.Fatalf("resume of an empty queue not suspended: %d, %v", n, err)
	}
}
