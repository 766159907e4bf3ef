package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// primaryDB is the database id the fake primary presents ("": no shadow
// session, no route through it).
type primaryDB struct {
	mu sync.Mutex
	v  string
}

func (p *primaryDB) get() string  { p.mu.Lock(); defer p.mu.Unlock(); return p.v }
func (p *primaryDB) set(v string) { p.mu.Lock(); p.v = v; p.mu.Unlock() }

// shadowing answers ShadowedOK for x@b.example (primary hub-b, database
// db; while db is not empty) and the answer of rest for everyone else; hook runs inside the
// attempt, before it returns.
func shadowing(db *primaryDB, rest func(attempt int) Outcome, hook func(m *Message, attempt int)) Deliverer {
	var mu sync.Mutex // attempts of two messages run at once
	n := 0
	return DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		n++
		attempt := n
		mu.Unlock()
		if hook != nil {
			hook(m, attempt)
		}
		var out []Result
		for _, i := range rcpts {
			if m.Rcpts[i].Addr == "x@b.example" && db.get() != "" {
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
					ShadowID: m.ID.String() + "-b", PrimaryDB: db.get(), Reply: "250 queued"})
				continue
			}
			o := rest(attempt)
			reply := "250 ok"
			if o == Deferred {
				reply = "451 4.4.1 later"
			}
			out = append(out, Result{Rcpt: i, Outcome: o, Reply: reply})
		}
		return out
	})
}

// hubBCopy starts a Manager over s on clk (cfg, its Clock set to clk),
// stopped when the test ends, that delivers through shadowing (primary
// hub-b, database db1; rest for everyone else); it submits one message
// from a@example.org to x@b.example and waits (what) until the message
// is held as hub-b's shadow copy.
func hubBCopy(t *testing.T, s *Store, clk *clock.Fake, rest func(int) Outcome, cfg ManagerConfig, what string) (*Manager, context.Context, *primaryDB, *Message) {
	t.Helper()
	db := &primaryDB{v: "db1"}
	cfg.Clock = clk
	q, ctx := startManager(t, s, shadowing(db, rest, nil), cfg)
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, what, func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	return q, ctx, db, m
}

// SR-13 (issue 19 defect 3): a takeover that happens while the message is
// in delivery is not undone by the commit of that attempt's results: the
// taken-over recipient is pending again afterwards, the message Ready.
func TestTakeoverDuringAttemptIsKept(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db := &primaryDB{v: "db1"}
	var q *Manager
	took := make(chan int, 1)
	d := shadowing(db, func(int) Outcome { return Deferred }, func(m *Message, attempt int) {
		if attempt == 2 {
			// hub-b is declared failed while y is being retried.
			n, err := q.Takeover("hub-b", "3 heartbeats failed")
			if err != nil {
				t.Error(err)
			}
			took <- n
			db.set("") // and no route is left for x
		}
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
	q.Kick()
	if n := <-took; n != 1 {
		t.Fatalf("takeover counted %d messages", n)
	}
	var got *Message // as the second attempt's commit left it (a third may follow at once)
	waitFor(t, "the second attempt's commit", func() bool {
		got, _ = q.Message(m.ID)
		return got != nil && got.State != Active && got.Attempts >= 2
	})
	x := got.Rcpts[0]
	if x.Status != Pending || x.Queue != "shadow:hub-b" || got.State != Ready {
		t.Fatalf("the takeover was undone by the attempt's commit: state %v, x %+v", got.State, x)
	}
	var marks []string
	s.View(func(tx *Tx) error {
		return tx.tx.Bucket(bucketTaken).ForEach(func(k, _ []byte) error { marks = append(marks, string(k)); return nil })
	})
	if len(marks) != 0 {
		t.Fatalf("takeover marks left: %q", marks)
	}
}

// SR-7 across a restart of the shadow server (issue 19 defect 1): the
// database id a copy was made against is stored with the copy's commit,
// so after a restart a contact with a new id still takes the copies over.
func TestNewDatabaseAfterOwnRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db := &primaryDB{v: "db1"}
	q := NewManager(s, shadowing(db, func(int) Outcome { return RelayedOK }, nil), ManagerConfig{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived = clk.Now()
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	cancel()
	q.Wait()
	s.Close()

	// Restarted: nothing in memory.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, shadowing(db, func(int) Outcome { return RelayedOK }, nil), ManagerConfig{Clock: clk})
	peers, err := q.ShadowPeers()
	if err != nil || len(peers) != 1 || peers[0].DatabaseID != "db1" || peers[0].Addr != "127.0.0.2:25" || !peers[0].LastContact.Equal(clk.Now()) {
		t.Fatalf("stored primary after a restart: %+v %v", peers, err)
	}
	res, err := q.ShadowContact("hub-b", "db2", nil)
	if err != nil || res.OldDatabaseID != "db1" || res.TakenOver != 1 {
		t.Fatalf("contact with a new database after a restart: %+v %v", res, err)
	}
	got, _ := q.Message(m.ID)
	if got.State != Ready || got.Rcpts[0].Status != Pending {
		t.Fatalf("copy not taken over: %+v", got)
	}
	// The new id is stored: the next contact with it changes nothing.
	if res, _ := q.ShadowContact("hub-b", "db2", nil); res.TakenOver != 0 || res.OldDatabaseID != "" {
		t.Fatalf("second contact: %+v", res)
	}
}

// A primary replaced while an attempt made a copy with it: the copy was
// made against the old database, the stored id is already the new one;
// the commit takes the copy back at once instead of waiting for a discard
// that will never come.
func TestCopyMadeAgainstReplacedDatabase(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db := &primaryDB{v: "db1"}
	var q *Manager
	d := shadowing(db, func(int) Outcome { return RelayedOK }, func(m *Message, attempt int) {
		// hub-b was contacted (XSHADOW: db1) before this copy; during the
		// attempt a heartbeat meets its replacement.
		q.ShadowContact("hub-b", "db1", nil)
		q.ShadowContact("hub-b", "db2", nil)
	})
	q = NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived = clk.Now()
	q.Submit(ctx, m, []byte(body))
	// The state the commit left, read before the message, due again at
	// once, is claimed for its next attempt.
	var got *Message
	waitFor(t, "the commit", func() bool { got, _ = q.Message(m.ID); return got != nil && got.State != Active })
	if got.Rcpts[0].Status != Pending || got.State != Ready {
		t.Fatalf("a copy made against a replaced database was kept as a shadow copy: %v %+v", got.State, got.Rcpts[0])
	}
}

// SR-16 (issue 20 item 3, issue 19 defect 2): a primary whose copies were
// all taken over and wait for a route is still listed for heartbeats, and
// when it answers again its copies are due at once.
func TestTakenOverPrimaryStaysWatched(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db := &primaryDB{v: "db1"}
	q := NewManager(s, shadowing(db, func(int) Outcome { return RelayedOK }, nil),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m1, m2 := msg(s, "a@example.org", "x@b.example"), msg(s, "a@example.org", "x@b.example")
	m1.Arrived, m2.Arrived = clk.Now(), clk.Now()
	q.Submit(ctx, m1, []byte(body))
	q.Submit(ctx, m2, []byte(body))
	waitFor(t, "two shadow copies", func() bool {
		a, _ := q.Message(m1.ID)
		b, _ := q.Message(m2.ID)
		return a != nil && b != nil && a.State == Shadow && b.State == Shadow
	})
	// The oldest copy is taken over by hand (as a failed heartbeat
	// would); it waits for a route, first in the queue.
	if err := s.Update(ctx, func(tx *Tx) error {
		m, _ := tx.Get(m1.ID)
		takeoverRcpts(m, "hub-b", "test")
		m.State, m.NextAttempt = Ready, clk.Now().Add(time.Hour)
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	if p, _ := q.ShadowPrimaries(); p["hub-b"] != "127.0.0.2:25" {
		t.Fatalf("a primary whose first copy is taken over is not watched: %v", p)
	}
	// The operator's view tells the copies apart (rt14 F5).
	if c, err := q.ShadowCopies(); err != nil || c["hub-b"] != (ShadowCopyCount{Held: 1, TakenOver: 1}) {
		t.Fatalf("copies of hub-b: %+v %v; want 1 held, 1 taken over", c, err)
	}
	// Its oldest copy is the one taken over, waiting outside its shadow
	// queue: shadow list's OLDEST counts it as COPIES does (rt35 F7).
	// (The ids run ahead of this fake clock, so the age reads 0, never
	// negative: ID.Age.)
	oldest := min(m1.ID, m2.ID).Age(clk.Now())
	if _, o, err := q.ShadowCopiesAged(); err != nil || o["hub-b"] != oldest || o["hub-b"] < 0 || m1.ID == m2.ID {
		t.Fatalf("oldest copy of hub-b: %v %v; want %v", o, err, oldest)
	} else if _, ok := o["hub-b"]; !ok {
		t.Fatalf("no oldest copy of hub-b: %v", o)
	}
	// All copies taken over after failed heartbeats, and no route: still
	// watched.
	db.set("")
	q.SetPolicy(Policy{RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 48 * time.Hour})
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].Addr != "127.0.0.2:25" || !peers[0].TakenOver {
		t.Fatalf("primary with only taken-over copies: %+v", peers)
	}
	if c, _ := q.ShadowCopies(); c["hub-b"] != (ShadowCopyCount{TakenOver: 2}) {
		t.Fatalf("copies of hub-b after the takeover: %+v; want 2 taken over", c)
	}
	if _, o, _ := q.ShadowCopiesAged(); o["hub-b"] != min(m1.ID, m2.ID).Age(clk.Now()) {
		t.Fatalf("oldest copy of hub-b after the takeover: %v", o)
	}
	// It answers again with its database: the copy taken over by hand
	// waits no longer, due now, not in an hour. The one its failed
	// heartbeats took over went out at once (its route relays) or, if
	// it still waited, is the primary's again: a held copy
	// (takeback_test.go shows that case alone).
	res, err := q.ShadowContact("hub-b", "db1", nil)
	if err != nil || res.Retried != 1 {
		t.Fatalf("contact after takeover: %+v %v", res, err)
	}
	waitFor(t, "the copy taken over by hand to be routed", func() bool {
		_, e1 := q.Message(m1.ID)
		return errors.Is(e1, ErrNotFound)
	})
	if res.GivenBack == 1 {
		if got, err := q.Message(m2.ID); err != nil || got.State != Shadow {
			t.Fatalf("the copy given back after its primary answered: %+v %v", got, err)
		}
	} else {
		waitFor(t, "the copy taken over for failed heartbeats to be routed", func() bool {
			_, e2 := q.Message(m2.ID)
			return errors.Is(e2, ErrNotFound)
		})
	}
}

func TestPeerRecordRoundTrip(t *testing.T) {
	p := &ShadowPeer{Primary: "hub-b", Addr: "127.0.0.2:25 via to-hub", DatabaseID: "0123456789abcdef0123456789abcdef",
		LastContact: time.Unix(1700000000, 5), LastTry: time.Unix(1700000300, 0), Failures: 2, TakenOver: true}
	got, err := decodePeer("hub-b", p.encode())
	if err != nil || *got != *p {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0}, {2}, p.encode()[:5], append(p.encode(), 0)} {
		if _, err := decodePeer("x", bad); !errors.Is(err, errCorrupt) {
			t.Errorf("%q decoded: %v", bad, err)
		}
	}
}

// The shadow peer record decoder rejects every malformed input without
// panicking, and what it accepts survives re-encoding unchanged.
func FuzzDecodePeer(f *testing.F) {
	f.Add((&ShadowPeer{Addr: "127.0.0.2:25", DatabaseID: "db1", LastContact: time.Unix(1, 0), Failures: 1}).encode())
	f.Add((&ShadowPeer{TakenOver: true}).encode())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePeer("p", b)
		if err != nil {
			return
		}
		if again, err := decodePeer("p", p.encode()); err != nil || *again != *p {
			t.Fatalf("re-encoding %+v: %+v %v", p, again, err)
		}
	})
}

// A takeover kept aside for a message in delivery applies to the copies
// made before that attempt; a copy the primary accepted in the attempt
// itself (it answered just now) stays a shadow copy.
func TestEarlyTakeoverSparesFreshCopies(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var q *Manager
	attempt := 0
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		attempt++
		if attempt == 2 {
			q.Takeover("hub-b", "3 heartbeats failed")
		}
		var out []Result
		for _, i := range rcpts {
			shadow := attempt == 1 && m.Rcpts[i].Addr == "x@b.example" || attempt == 2
			if !shadow {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 later"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db1", Reply: "250 queued"})
		}
		return out
	})
	q = NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example", "z@b.example")
	m.Arrived = clk.Now()
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the first attempt", func() bool { got, _ := q.Message(m.ID); return got != nil && got.Attempts == 1 })
	clk.Advance(2 * time.Minute)
	q.Kick()
	var got *Message
	waitFor(t, "the second attempt's commit", func() bool {
		got, _ = q.Message(m.ID)
		return got != nil && got.State != Active && got.Rcpts[1].Status != Pending
	})
	if x, z := got.Rcpts[0], got.Rcpts[1]; x.Status != Pending || x.Queue != "shadow:hub-b" || z.Status != Shadowed {
		t.Fatalf("after a takeover during the attempt: x %v %q, z %v", x.Status, x.Queue, z.Status)
	}
}

// shadow list must not restart the count at a takeover (the operator saw
// 1 after 8 failures and a completed takeover): the count stands at the
// one that made the takeover while the heartbeats go on failing — one
// number in FAILED HEARTBEATS, WHY and the log lines (shadowrt35 F3; how
// long it has failed is LAST CONTACT) —, the peer says it was taken
// over, and a contact resets both.
func TestHeartbeatFailuresCountPastTakeover(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _, db, _ := hubBCopy(t, s, clk, func(int) Outcome { return Deferred }, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, "a shadow copy")
	db.set("") // no route once taken over: the copy stays, the primary watched
	for i := 1; i <= 8; i++ {
		failures, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout")
		if err != nil || failures != min(i, 3) {
			t.Fatalf("heartbeat %d: failures %d, %v; want %d", i, failures, err, min(i, 3))
		}
		if want := map[bool]int{true: 1}[i == 3]; taken != want {
			t.Fatalf("heartbeat %d took over %d copies, want %d", i, taken, want)
		}
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].Failures != 3 || !peers[0].TakenOver {
		t.Fatalf("after 8 failed heartbeats: %+v", peers)
	}
	if _, err := q.ShadowContact("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	peers, _ = q.ShadowPeers()
	if len(peers) == 1 && (peers[0].Failures != 0 || peers[0].TakenOver) {
		t.Fatalf("after a contact: %+v", peers)
	}
}

// SR-5, W-6: an XSHADOW reply presents the primary's database id (a new
// one takes the copies over, SR-7) but is not a contact: the stored last
// contact — the heartbeat timer — moves only with a completed query. A
// new database id starts the record afresh (newDatabaseTx): the old
// database's last contact is not the new one's, which is first heard
// then (shadowout48 F1).
func TestPresentedIsNoContact(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _, _, _ := hubBCopy(t, s, clk, func(int) Outcome { return RelayedOK }, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, "the shadow copy")
	if _, err := q.ShadowContact("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	queried := clk.Now()
	for i := 0; i < 10; i++ {
		clk.Advance(time.Second)
		if res, err := q.ShadowPresented("hub-b", "db1", nil); err != nil || res != (ContactResult{}) {
			t.Fatalf("presented: %+v %v", res, err)
		}
	}
	peers, err := q.ShadowPeers()
	if err != nil || len(peers) != 1 || !peers[0].LastContact.Equal(queried) {
		t.Fatalf("XSHADOW replies moved the heartbeat timer: %+v %v", peers, err)
	}
	if _, err := q.ShadowContact("hub-b", "db1", []string{}); err != nil {
		t.Fatal(err)
	}
	if peers, _ := q.ShadowPeers(); !peers[0].LastContact.Equal(clk.Now()) {
		t.Fatalf("a completed query did not reset the timer: %+v", peers)
	}
	clk.Advance(time.Second)
	res, err := q.ShadowPresented("hub-b", "db2", nil)
	if err != nil || res.OldDatabaseID != "db1" || res.TakenOver != 1 {
		t.Fatalf("XSHADOW with a new database id: %+v %v", res, err)
	}
	if peers, _ := q.ShadowPeers(); peers[0].DatabaseID != "db2" || !peers[0].LastContact.Equal(clk.Now()) {
		t.Fatalf("after a new database id on XSHADOW: %+v", peers)
	}
}

// A discard that arrives while the message is in delivery for its other
// recipients is kept aside; an attempt that ends without results
// (requeue, hold, poison, recovery after a crash) applies it too, so the
// copy does not wait for a later attempt — or stay for good on a poisoned
// message — while its primary has forgotten the notification.
func TestEarlyDiscardAppliedWhenLeavingWithoutResults(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var q *Manager
	var attempts int
	var mu sync.Mutex
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		attempts++
		n := attempts
		mu.Unlock()
		sid := m.ID.String() + "-b"
		if n == 1 {
			return []Result{{Rcpt: 0, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid},
				{Rcpt: 1, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid},
				{Rcpt: 2, Outcome: Deferred, Queue: "mx:c.example", Reply: "451 4.4.1 later"}}
		}
		// The second attempt (for the deferred recipient): hub-b's
		// discard arrives meanwhile, then the attempt dies.
		if k, err := q.ShadowContact("hub-b", "", []string{sid}); err != nil || k.Discarded != 1 {
			t.Errorf("discard during the attempt: %+v %v", k, err)
		}
		panic("deliverer bug")
	})
	q = NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	// Two recipients shadowed under one shadow id: one discard covers both.
	m := msg(s, "a@example.org", "x@b.example", "w@b.example", "y@c.example")
	m.Arrived = clk.Now()
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the first attempt", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].Status == Shadowed
	})
	clk.Advance(2 * time.Minute)
	q.Kick()
	waitFor(t, "the poisoned attempt", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Poison })
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Relayed {
		t.Fatalf("the discard sent during the attempt was not applied to every recipient: %+v", got.Rcpts[:2])
	}
	var early int
	s.View(func(tx *Tx) error { early = tx.tx.Bucket(bucketEarly).Stats().KeyN; return nil })
	if early != 0 {
		t.Fatalf("%d early discards left over", early)
	}
}

// rt15 N1: a primary that refuses this server's login never reaches its
// XSHADOW reply, so its new database id is not seen; the digest it
// advertises before the login is. The same digest, or one of a primary
// whose id is unknown, changes nothing; another takes the copies over at
// once (SR-7) and keeps the stored id (the digest does not give the new
// one): the next push or accepted session stores that.
func TestNewDatabaseDigestTakesOver(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _, _, m := hubBCopy(t, s, clk, func(int) Outcome { return RelayedOK }, ManagerConfig{}, "the shadow copy")
	if d := DatabaseDigest("db1"); len(d) != 32 || d == DatabaseDigest("db2") || strings.Contains(d, "db1") {
		t.Fatalf("digest %q", d)
	}
	for _, c := range []struct {
		primary, digest string
		same            bool
	}{{"hub-b", DatabaseDigest("db1"), true}, {"hub-b", "", false}, {"hub-x", DatabaseDigest("db2"), false}} {
		if res, err := q.ShadowPresentedDigest(c.primary, c.digest); err != nil || res != (ContactResult{SameDatabase: c.same}) {
			t.Fatalf("digest %q of %s: %+v %v; want nothing changed, same database %v", c.digest, c.primary, res, err, c.same)
		}
	}
	if got, _ := q.Message(m.ID); got.State != Shadow {
		t.Fatalf("copy taken over by its own database's digest: %+v", got)
	}
	res, err := q.ShadowPresentedDigest("hub-b", DatabaseDigest("db2"))
	if err != nil || res.OldDatabaseID != "db1" || res.TakenOver != 1 {
		t.Fatalf("a new database's digest: %+v %v", res, err)
	}
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Status == Shadowed {
		t.Fatalf("copy not taken over: %+v", got)
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].DatabaseID != "db1" || peers[0].Failures != 0 {
		t.Fatalf("stored primary after a digest takeover: %+v", peers)
	}
}

// A heartbeat that began while the primary was stopped and hit its bound
// after the primary came back and completed a session here must not take
// its copies over: the primary delivers them itself (rt33 F1: 13
// duplicates). Neither a discard query nor a copy it pushed after the
// heartbeat began lets the failure count; one before it does.
func TestHeartbeatFailedAfterAnswerTakesNothing(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, ctx, db, m := hubBCopy(t, s, clk, func(int) Outcome { return Deferred }, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, "a shadow copy")
	db.set("")
	// Two heartbeats failed; the third would take the copy over.
	for i := 0; i < 2; i++ {
		clk.Advance(10 * time.Second)
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	started := clk.Now()
	clk.Advance(5 * time.Second)
	// The primary answers a discard query while the third heartbeat
	// waits (it resets the failures); the heartbeat then fails at its
	// bound, asked with a retry count it would reach.
	if _, err := q.ShadowContact("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	failures, taken, err := q.ShadowHeartbeatFailed("hub-b", started, 0, 1, "context deadline exceeded")
	if !errors.Is(err, ErrAnsweredSince) || taken != 0 || failures != 0 {
		t.Fatalf("heartbeat cut off after a contact: failures %d, taken %d, %v; want none, ErrAnsweredSince", failures, taken, err)
	}
	if got, _ := q.Message(m.ID); got == nil || got.State != Shadow {
		t.Fatalf("the copy after a heartbeat cut off after a contact: %+v", got)
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].Failures != 0 || peers[0].TakenOver {
		t.Fatalf("peer after a heartbeat cut off after a contact: %+v", peers)
	}
	// A copy the primary pushed after a heartbeat began counts the same.
	clk.Advance(time.Minute)
	started = clk.Now()
	clk.Advance(time.Second)
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, taken, err := q.ShadowHeartbeatFailed("hub-b", started, 0, 1, "context deadline exceeded"); !errors.Is(err, ErrAnsweredSince) || taken != 0 {
		t.Fatalf("heartbeat cut off after a pushed copy: taken %d, %v; want none, ErrAnsweredSince", taken, err)
	}
	// A heartbeat that began after the last session counts, and at the
	// retry count takes the copies over.
	clk.Advance(time.Second)
	failures, taken, err = q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 1, "timeout")
	if err != nil || failures != 1 || taken != 2 {
		t.Fatalf("heartbeat begun after the last session: failures %d, taken %d, %v; want 1, 2", failures, taken, err)
	}
}

// An XSHADOW reply with the stored database id on another session
// (rt35 F6: a delivery session the primary answered while the heartbeat,
// begun before, could not finish its login in time) is an answer of the
// primary holding the copies' mail: the heartbeat failing after it takes
// nothing over. It also forgets the failures counted before it (alive.go,
// rt36 F2: every contact with the real primary restarts the count), but
// not the heartbeat timer (SR-5: only a completed discard query does);
// a reply with no stored id to compare, or a heartbeat begun after the
// reply, counts as before.
func TestHeartbeatFailedAfterXShadowReplyTakesNothing(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _, db, m := hubBCopy(t, s, clk, func(int) Outcome { return Deferred }, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, "a shadow copy")
	db.set("")
	clk.Advance(10 * time.Second)
	if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 2, "timeout"); err != nil {
		t.Fatal(err)
	}
	started := clk.Now()
	clk.Advance(5 * time.Second)
	if _, err := q.ShadowPresented("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	failures, taken, err := q.ShadowHeartbeatFailed("hub-b", started, 0, 2, "context deadline exceeded")
	if !errors.Is(err, ErrAnsweredSince) || taken != 0 || failures != 0 {
		t.Fatalf("heartbeat failed after an XSHADOW reply with the stored id: failures %d, taken %d, %v; want 0, none, ErrAnsweredSince", failures, taken, err)
	}
	if got, _ := q.Message(m.ID); got == nil || got.State != Shadow {
		t.Fatalf("the copy after a heartbeat failed after an XSHADOW reply: %+v", got)
	}
	peers, _ := q.ShadowPeers()
	if len(peers) != 1 || peers[0].Failures != 0 || peers[0].TakenOver {
		t.Fatalf("peer after an XSHADOW reply (failures forgotten, no takeover): %+v", peers)
	}
	// Heartbeats begun after the reply count, and at the retry count take
	// the copy over.
	for i := 1; i <= 2; i++ {
		clk.Advance(5 * time.Second)
		failures, taken, err = q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 2, "timeout")
		if err != nil || failures != i || (taken != 0) != (i == 2) {
			t.Fatalf("heartbeat %d begun after the XSHADOW reply: failures %d, taken %d, %v", i, failures, taken, err)
		}
	}
}

// An XSHADOW reply from a server whose id this server has not stored
// proves nothing of the primary: the failing heartbeat counts.
func TestXShadowReplyOfUnknownPrimaryIsNoAnswer(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	started := clk.Now()
	clk.Advance(time.Second)
	if _, err := q.ShadowPresented("hub-x", "dbx", nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if failures, _, err := q.ShadowHeartbeatFailed("hub-x", started, 0, 3, "timeout"); err != nil || failures != 1 {
		t.Fatalf("heartbeat failed after a first XSHADOW reply: failures %d, %v; want 1, counted", failures, err)
	}
}
