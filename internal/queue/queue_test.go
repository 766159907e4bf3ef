package queue

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// scripted is a Deliverer that answers from a per-recipient script and
// records every attempt.
type scripted struct {
	mu       sync.Mutex
	answer   func(addr string, attempt int) (Outcome, string)
	attempts map[string]int
	seen     []*Message // every message attempted, with its body in Helo's place
	calls    chan ID
}

func newScripted(answer func(string, int) (Outcome, string)) *scripted {
	return &scripted{answer: answer, attempts: map[string]int{}, calls: make(chan ID, 100)}
}

func (d *scripted) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	defer func() { d.calls <- m.ID }()
	d.mu.Lock()
	defer d.mu.Unlock()
	cp := *m
	cp.Helo = string(body)
	d.seen = append(d.seen, &cp)
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		d.attempts[addr]++
		o, reply := d.answer(addr, d.attempts[addr])
		out = append(out, Result{Rcpt: i, Outcome: o, NextHop: "mx.example.org:25", Reply: reply})
	}
	return out
}

func (d *scripted) wait(t *testing.T) ID {
	t.Helper()
	select {
	case id := <-d.calls:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt")
		return 0
	}
}

func msg(s *Store, from string, rcpts ...string) *Message {
	m := &Message{ID: s.NewID(time.Now()), From: from, Connector: "test", ClientIP: "127.0.0.1"}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, Recipient{Addr: r})
	}
	return m
}

// txMsg is msg for a function run in a write transaction: Store.NewID
// may wait for a commit of its own, which waits for that transaction.
func txMsg(tx *Tx, from string, rcpts ...string) *Message {
	m := &Message{ID: tx.NewID(time.Now()), From: from, Connector: "test", ClientIP: "127.0.0.1"}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, Recipient{Addr: r})
	}
	return m
}

const body = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

// waitFor polls cond (reading the store) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startManager starts a Manager over s delivering through d, stopped
// (cancelled and waited for) when the test ends; it returns the context
// the Manager runs under, for the test's submissions.
func startManager(t *testing.T, s *Store, d Deliverer, cfg ManagerConfig) (*Manager, context.Context) {
	t.Helper()
	q := NewManager(s, d, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	return q, ctx
}

func messages(t *testing.T, s *Store) []*Message {
	var out []*Message
	s.View(func(tx *Tx) error {
		tx.ForEach(func(m *Message, err error) bool {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
			return true
		})
		return nil
	})
	return out
}

func TestDeliveredMessageIsRemoved(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 ok" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	if err := q.Submit(ctx, msg(s, "a@example.org", "b@example.net"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "removal", func() bool { return len(messages(t, s)) == 0 })
}

func TestRetryExpiryAndDSN(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(addr string, n int) (Outcome, string) {
		switch addr {
		case "bad@example.net":
			return FailedPerm, "550 5.1.1 no such user"
		case "slow@example.net":
			return Deferred, "451 4.4.1 try later"
		}
		return RelayedOK, "250 ok"
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{time.Minute, time.Hour}, MessageExpiration: 3 * time.Hour,
		DelayNotification: 2 * time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	m := msg(s, "sender@example.org", "good@example.net", "bad@example.net", "slow@example.net")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	d.wait(t) // the failure DSN for bad@, sent at once
	waitFor(t, "first results", func() bool { ms := messages(t, s); return len(ms) == 1 && ms[0].State == Ready })
	orig := messages(t, s)[0]
	if orig.Rcpts[0].Status != Relayed || orig.Rcpts[1].Status != Failed || orig.Rcpts[2].Status != Pending {
		t.Fatalf("recipient states: %+v", orig.Rcpts)
	}
	if got := orig.NextAttempt.Sub(clk.Now()); got < 48*time.Second || got > 72*time.Second {
		t.Errorf("first retry in %v, want 1m ± 20%%", got)
	}
	d.mu.Lock()
	dsn := d.seen[1]
	d.mu.Unlock()
	if dsn.From != "" || dsn.Rcpts[0].Addr != "sender@example.org" {
		t.Errorf("DSN envelope: from %q to %+v", dsn.From, dsn.Rcpts)
	}
	if !strings.Contains(dsn.Helo, "Final-Recipient: rfc822; bad@example.net") || strings.Contains(dsn.Helo, "good@") {
		t.Errorf("DSN body reports the wrong recipients:\n%s", dsn.Helo)
	}

	// Retry after a minute; still deferred. Then hourly until expiry at 3h.
	attempts := 1
	for clk.Now().Sub(m.Arrived) < 4*time.Hour && len(messages(t, s)) > 0 {
		clk.Advance(10 * time.Minute)
		select {
		case id := <-d.calls:
			if id == m.ID {
				attempts++
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	waitFor(t, "expiry", func() bool { return len(messages(t, s)) == 0 })
	// t0, +1m, then hourly (±20 %) until the attempt after 3h fails it.
	if attempts < 4 || attempts > 6 {
		t.Errorf("%d attempts before expiry, want 1 + 1m + hourly up to 3h", attempts)
	}
	// Failure DSN for bad at once, delay DSN at 2h, failure DSN (expired) at 3h:
	// three DSNs in all, each attempted by the deliverer.
	if n := d.attempts["sender@example.org"]; n != 3 {
		t.Errorf("%d DSNs sent to the sender, want 3 (failed, delayed, expired)", n)
	}
	// The expiry is a permanent failure: its reply and its status agree
	// (RFC 3463 5.4.7, delivery time expired), not a 550 with a 4.x.x
	// code under a Status of 5.0.0 (rt53 R8).
	d.mu.Lock()
	last := d.seen[len(d.seen)-1]
	d.mu.Unlock()
	if !strings.Contains(last.Helo, "Final-Recipient: rfc822; slow@example.net") ||
		!strings.Contains(last.Helo, "Status: 5.4.7") ||
		!strings.Contains(last.Helo, "<slow@example.net>: 550 5.4.7 message expired after") ||
		strings.Contains(last.Helo, "Diagnostic-Code: X-Umbra") ||
		strings.Contains(last.Helo, "4.4.7") {
		t.Errorf("expiry DSN:\n%s", last.Helo)
	}
}

func TestNoDSNToNullSender(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(string, int) (Outcome, string) { return FailedPerm, "550 5.1.1 unknown" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	q.Submit(ctx, msg(s, "", "x@example.net"), []byte(body))
	d.wait(t)
	waitFor(t, "removal", func() bool { return len(messages(t, s)) == 0 })
	select {
	case <-d.calls:
		t.Fatal("a DSN was generated for a bounce")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestNotifyNeverAndSuccess(t *testing.T) {
	if NotifyNever.Wants(NotifyFailure) || !Notify(0).Wants(NotifyFailure) || Notify(0).Wants(NotifySuccess) ||
		!(NotifySuccess | NotifyFailure).Wants(NotifySuccess) {
		t.Fatal("RFC 3461 NOTIFY semantics")
	}
}

// A message that was Active when the server died is due again after
// Recover, and goes to the poison queue after PoisonThreshold crashes.
func TestRecoverAndPoison(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.net")
	m.State = Active
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	dbid := s.DatabaseID()
	s.Close()

	for crash := 1; crash <= 2; crash++ {
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.DatabaseID() != dbid {
			t.Fatal("database id changed on reopen")
		}
		q := NewManager(s, nil, ManagerConfig{PoisonThreshold: 2})
		rec, poi, err := q.Recover(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := messages(t, s)[0]
		switch crash {
		case 1:
			if rec != 1 || poi != 0 || got.State != Ready || got.CrashCount != 1 {
				t.Fatalf("after crash 1: rec %d poi %d %+v", rec, poi, got)
			}
			// Simulate the next start claiming it and crashing again
			// while umbra's code runs on it (its slot says so).
			got.State = Active
			s.Update(context.Background(), func(tx *Tx) error { return tx.Put(got) })
			q.markPhase(&attempt{m: got, own: 1})
		case 2:
			if poi != 1 || got.State != Poison {
				t.Fatalf("after crash 2: rec %d poi %d %+v", rec, poi, got)
			}
			var due []ID
			s.View(func(tx *Tx) error { due = tx.Due(time.Now().Add(time.Hour), 10); return nil })
			if len(due) != 0 {
				t.Fatal("a poison message is still scheduled")
			}
		}
		s.Close()
	}
}

// A panic in delivery poisons that message and leaves the server running.
func TestPanicPoisons(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(addr string, _ int) (Outcome, string) {
		if addr == "boom@example.net" {
			panic("bad message")
		}
		return RelayedOK, "250 ok"
	})
	q := NewManager(s, d, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	q.Submit(ctx, msg(s, "a@example.org", "boom@example.net"), []byte(body))
	waitFor(t, "poison", func() bool {
		ms := messages(t, s)
		return len(ms) == 1 && ms[0].State == Poison && strings.Contains(ms[0].LastError, "bad message")
	})
	q.Submit(ctx, msg(s, "a@example.org", "ok@example.net"), []byte(body))
	waitFor(t, "the next message to flow", func() bool { return len(messages(t, s)) == 1 })
}

// The active set is bounded: with MaxActive 2 and a deliverer that blocks,
// no more than two attempts run at once, and the rest wait in the index.
func TestActiveSetBounded(t *testing.T) {
	s := openTest(t)
	release := make(chan struct{})
	var mu sync.Mutex
	running, peak := 0, 0
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return []Result{{Rcpt: 0, Outcome: RelayedOK, Reply: "250 ok"}}
	})
	q := NewManager(s, d, ManagerConfig{MaxActive: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	for i := 0; i < 10; i++ {
		if err := q.Submit(ctx, msg(s, "a@example.org", fmt.Sprintf("r%d@example.net", i)), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for i := 0; i < 10; i++ {
			release <- struct{}{}
		}
	}()
	waitFor(t, "all delivered", func() bool { return len(messages(t, s)) == 0 })
	if peak > 2 {
		t.Errorf("%d attempts ran at once with MaxActive 2", peak)
	}
}

func TestGroupCommitConcurrentWriters(t *testing.T) {
	s := openTest(t)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				m := msg(s, "a@example.org", "b@example.net")
				m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
				if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(messages(t, s)); n != 640 {
		t.Fatalf("%d messages, want 640", n)
	}
}

// One writer's failing function must not fail the writers that shared its
// transaction.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openTest(t)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := msg(s, "a@example.org", "b@example.net")
			m.State = Suspended
			errs[i] = s.Update(context.Background(), func(tx *Tx) error {
				if i%10 == 0 {
					return fmt.Errorf("writer %d refuses", i)
				}
				return tx.PutNew(m, []byte(body))
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if n := len(messages(t, s)); n != 45 {
		t.Fatalf("%d messages, want 45", n)
	}
}

func TestDSNFormat(t *testing.T) {
	m := &Message{ID: 0xABC, From: "s@example.org", Arrived: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), EnvID: "env1",
		Rcpts: []Recipient{{Addr: "x@example.net", ORcpt: "rfc822;x@example.net", NextHop: "mx.example.net[192.0.2.1]:25",
			LastReply: "550 5.1.1 <x@example.net>: no such user"}}}
	out := string(BuildDSN("mx.test", m, []byte(body), NotifyFailure, []int{0}, m.Arrived, m.Arrived.Add(48*time.Hour), 0xDEF, 50<<10))
	for _, want := range []string{
		"Content-Type: multipart/report; report-type=delivery-status;",
		"Content-Type: message/delivery-status",
		"Reporting-MTA: dns; mx.test",
		"Original-Envelope-Id: env1",
		"Final-Recipient: rfc822; x@example.net",
		"Original-Recipient: rfc822;x@example.net",
		"Action: failed",
		"Status: 5.1.1",
		"Remote-MTA: dns; mx.example.net",
		"Diagnostic-Code: smtp; 550 5.1.1 <x@example.net>: no such user",
		"Content-Type: text/rfc822-headers",
		"Subject: hi\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("DSN lacks %q", want)
		}
	}
	if strings.Contains(out, "hello") {
		t.Error("a RET=HDRS DSN carries the body")
	}
	for _, line := range strings.Split(out, "\r\n") {
		if strings.Contains(line, "\n") || len(line) > 998 {
			t.Fatalf("bad line %q", line)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := &Message{ID: 42, State: Ready, From: "a@example.org", Arrived: time.Unix(1700000000, 5), Size: 99,
		Connector: "c", ClientIP: "127.0.0.1", Helo: "h", EnvID: "e", MessageID: "<m@x>", RetFull: true, UTF8: true, Attempts: 3,
		NextAttempt: time.Unix(1700000100, 0), CrashCount: 1, DelayNotified: true, LastError: "451", Internal: true,
		Rcpts: []Recipient{{Addr: "b@example.net", ORcpt: "rfc822;b", Notify: NotifyFailure | NotifyDelay,
			Status: Relayed, NextHop: "mx", LastReply: "250"}}}
	got, err := decodeMessage(m.encode())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(m) {
		t.Fatalf("round trip:\n%+v\n%+v", got, m)
	}
	m.RetFull, m.RetHdrs = false, true // RET=HDRS is kept as given, not read back as "no RET"
	if got, err = decodeMessage(m.encode()); err != nil || !got.RetHdrs || got.RetFull {
		t.Fatalf("RET=HDRS round trip: %+v, %v", got, err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	m := &Message{ID: 42, State: Ready, From: "a@example.org", Rcpts: []Recipient{{Addr: "b@example.net"}}}
	f.Add(m.encode())
	f.Add(legacyRecord(m)) // version 1, before org ids
	m.OrgID = "0123456789abcdef0123456789abcdef"
	f.Add(m.encode())
	m.Grown, m.GrownKnown, m.OrgEarlier, m.Released = MaxGrown, true, time.Hour, true // flag bits 11, 12, 13-31 and 32 up all set
	f.Add(m.encode())
	f.Add(heldWithHopReply(42).encode()) // version 4: a held recipient's next hop's reply kept apart
	f.Add([]byte{1})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		again, err := decodeMessage(m.encode())
		if err != nil || fmt.Sprint(again) != fmt.Sprint(m) {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
	})
}

// Redelivery request records are read back from disk after a crash: a
// damaged one is an error, never a panic, and a good one round-trips.
func FuzzDecodeRequest(f *testing.F) {
	r := &Request{ID: "x", Database: "DB1", Since: time.Unix(1, 0), Started: time.Unix(2, 0), FirstID: 9, Phase: Resubmitting, Cleared: 3, Resubmitted: 4}
	f.Add(r.encode())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest("x", b)
		if err != nil {
			return
		}
		again, err := decodeRequest("x", r.encode())
		if err != nil || fmt.Sprint(again) != fmt.Sprint(r) {
			t.Fatalf("re-encoding changed the request: %v", err)
		}
	})
}

// The request record is written in the previous release's layout
// (version 1) byte for byte, and both versions are read: version 1
// (the previous release's), version 2 (Skipped inside the record, from
// builds between the releases).
func TestDecodeRequestVersion1(t *testing.T) {
	r := &Request{ID: "x", Database: "DB1", Since: time.Unix(1, 0).UTC(), Started: time.Unix(2, 0).UTC(), FirstID: 9, Phase: Resubmitting, Cleared: 3, Resubmitted: 4}
	v1 := r.encode()
	if !bytes.Equal(v1, previousEncodeRequest(r)) {
		t.Fatalf("the record is not the previous release's layout:\n% x\n% x", v1, previousEncodeRequest(r))
	}
	got, err := decodeRequest("x", v1)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(r) {
		t.Fatalf("version 1: %+v, %v; want %+v", got, err, r)
	}
	v2 := append(append([]byte{2}, v1[1:]...), 2)
	if got, err := decodeRequest("x", v2); err != nil || got.Skipped != 2 {
		t.Fatalf("version 2: %+v, %v", got, err)
	}
}

func BenchmarkEnqueue(b *testing.B) {
	payload := []byte(strings.Repeat("x", 4096))
	for _, writers := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTest(b)
			b.SetParallelism(writers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := &Message{ID: s.NewID(time.Now()), State: Ready, NextAttempt: time.Now().Add(time.Hour),
						From: "a@example.org", Rcpts: []Recipient{{Addr: "b@example.net"}}}
					if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, payload) }); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// The scheduler's sleep: until the next due time; at once when that has
// passed meanwhile (it once slept an hour in that window); an hour (until
// a kick) when the active set is full or nothing is scheduled.
func TestNextWake(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		due  time.Time
		ok   bool
		room int
		want time.Duration
	}{
		{now.Add(5 * time.Second), true, 10, 5 * time.Second},
		{now.Add(-time.Millisecond), true, 10, 0},
		{now.Add(-time.Millisecond), true, 0, time.Hour},
		{time.Time{}, false, 10, time.Hour},
	} {
		if got := nextWake(tc.due, tc.ok, now, tc.room); got != tc.want {
			t.Errorf("nextWake(%v, %v, room %d) = %v, want %v", tc.due.Sub(now), tc.ok, tc.room, got, tc.want)
		}
	}
}

// The queue index follows every state change: submission before the first
// attempt, the next hop's queue while deferred, poison, and nothing once
// delivered.
func TestQueueIndex(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(addr string, _ int) (Outcome, string) {
		if strings.HasPrefix(addr, "slow") {
			return Deferred, "451 4.4.1 later"
		}
		return RelayedOK, "250 ok"
	})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		res := d.Deliver(ctx, m, b, rcpts)
		for k := range res {
			res[k].Queue = "mx:" + m.Rcpts[res[k].Rcpt].Addr[strings.IndexByte(m.Rcpts[res[k].Rcpt].Addr, '@')+1:]
		}
		return res
	}), ManagerConfig{Clock: clk, MaxActive: 1})
	stats := func() map[string]int {
		out := map[string]int{}
		s.View(func(tx *Tx) error {
			for _, qs := range tx.Queues() {
				out[qs.Name] = qs.Count
			}
			return nil
		})
		return out
	}
	// Before the manager runs, a submitted message sits in submission.
	m1 := msg(s, "a@example.org", "slow@one.example", "fast@two.example")
	m1.State, m1.NextAttempt, m1.Arrived = Ready, clk.Now(), clk.Now()
	s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m1, []byte(body)) })
	if got := stats(); got[QueueSubmission] != 1 || len(got) != 1 {
		t.Fatalf("before the first attempt: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	d.wait(t)
	waitFor(t, "the deferred queue", func() bool { g := stats(); return g["mx:one.example"] == 1 && len(g) == 1 })
	var oldest ID
	s.View(func(tx *Tx) error {
		oldest = tx.Queues()[0].Oldest
		if ids := tx.InQueue("mx:one.example", 10); len(ids) != 1 || ids[0] != m1.ID {
			t.Errorf("InQueue: %v", ids)
		}
		return nil
	})
	if oldest != m1.ID {
		t.Errorf("oldest %v, want %v", oldest, m1.ID)
	}
	// Poison moves it to the poison queue only.
	s.Update(context.Background(), func(tx *Tx) error {
		m, _ := tx.Get(m1.ID)
		m.State = Poison
		return tx.Put(m)
	})
	if got := stats(); got[QueuePoison] != 1 || len(got) != 1 {
		t.Fatalf("poisoned: %v", got)
	}
	s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(m1.ID) })
	if got := stats(); len(got) != 0 {
		t.Fatalf("after removal: %v", got)
	}
}

// BenchmarkQueueStats reads the per-queue summary of 100,000 queued
// messages spread over 100 queues from the index alone.
func BenchmarkQueueStats(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for batch := 0; batch < 100; batch++ {
		s.Update(context.Background(), func(tx *Tx) error {
			for i := 0; i < 1000; i++ {
				m := &Message{ID: tx.NewID(time.Now()), State: Ready, NextAttempt: time.Now().Add(time.Hour),
					Rcpts: []Recipient{{Addr: "x@example.net", Queue: fmt.Sprintf("mx:d%d.example", i%100)}}}
				if err := tx.PutNew(m, []byte(body)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.View(func(tx *Tx) error {
			if qs := tx.Queues(); len(qs) != 100 || qs[0].Count != 1000 {
				b.Fatalf("%d queues", len(qs))
			}
			return nil
		})
	}
}

// An attempt that shutdown cuts short commits what it achieved: a
// recipient the next hop took is not sent again after the restart; the
// rest is due at once, without an attempt counted.
func TestInterruptedAttemptKeepsItsResults(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(dctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		close(started)
		<-dctx.Done() // shutdown arrives mid-transaction
		return []Result{{Rcpt: 0, Outcome: RelayedOK, Queue: "smarthost:x", Reply: "250 ok"},
			{Rcpt: 1, Outcome: Deferred, Queue: "smarthost:x", Reply: "451 4.4.2 shutting down"}}
	}), ManagerConfig{})
	q.Start(ctx)
	m := msg(s, "a@example.org", "done@example.net", "later@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	q.Wait()
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Pending || got.State != Ready || got.Attempts != 0 ||
		got.NextAttempt.After(time.Now()) {
		t.Fatalf("after an interrupted attempt: state %v attempts %d next %v, rcpts %v %v",
			got.State, got.Attempts, got.NextAttempt, got.Rcpts[0].Status, got.Rcpts[1].Status)
	}
}

// A message without recipients is never queued, whoever submits it.
func TestSubmitWithoutRecipientsRefused(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	m := &Message{ID: s.NewID(time.Now()), From: "a@example.org"}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\n")); err != ErrNoRecipients {
		t.Fatalf("Submit without recipients: %v", err)
	}
	if _, err := q.Message(m.ID); err != ErrNotFound {
		t.Fatalf("stored anyway: %v", err)
	}
}
