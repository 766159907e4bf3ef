package queue

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt18e-F2: a redirect's queue is named by one form of its target,
// whichever form the operator typed: a suspension of either form holds
// the mail a redirect in the other form moves.
func TestRedirectQueueNameIsCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"redirect:::1":             "redirect:[::1]",
		"redirect:[::1]":           "redirect:[::1]",
		"redirect:[::1]:2525":      "redirect:[::1]:2525",
		"redirect:[0:0::1]":        "redirect:[::1]",
		"redirect:Standby.Example": "redirect:standby.example",
		"redirect:10.0.0.1:25":     "redirect:10.0.0.1:25",
		"smarthost:Sink":           "smarthost:Sink",
	} {
		if got := CanonicalQueueName(in); got != want {
			t.Errorf("CanonicalQueueName(%q) = %q, want %q", in, got, want)
		}
	}

	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := newPlanned()
	p.refuse["down.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Minute, time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused attempt", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	if err := q.SuspendQueue(ctx, "redirect:[::1]"); err != nil {
		t.Fatal(err)
	}
	if n, err := q.RedirectQueue(ctx, "mx:down.test", "::1"); err != nil || n != 1 {
		t.Fatalf("redirect: %d, %v", n, err)
	}
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Queue != "redirect:[::1]" {
		t.Fatalf("redirected to queue %q, want redirect:[::1]", got.Rcpts[0].Queue)
	}
	if !slices.Contains(q.SuspendedQueues(), "redirect:[::1]") || heldOnlyBy(got, q.SuspendedQueues()) != "redirect:[::1]" {
		t.Fatalf("the redirected mail is not held by the suspension (%v)", q.SuspendedQueues())
	}
}

// rt19 reread (mendq19 2): one next hop is one queue whatever the form
// typed — a port with leading zeros is its number, a host name's final
// dot goes — and a database holding redirect queue names as an earlier
// release stored them (as typed: in records, in the queue index, in
// suspension marks) has them rewritten to that one form at open, so
// every action on the queue reaches them and queue list shows the name
// the API takes.
func TestRedirectNamesStoredAsTypedAreRewrittenAtOpen(t *testing.T) {
	for in, want := range map[string]string{
		"redirect:h.example:025":   "redirect:h.example:25",
		"redirect:H.Example.":      "redirect:h.example",
		"redirect:h.example.:0025": "redirect:h.example:25",
		"redirect:[::1]:025":       "redirect:[::1]:25",
	} {
		if got := CanonicalQueueName(in); got != want {
			t.Errorf("CanonicalQueueName(%q) = %q, want %q", in, got, want)
		}
		if again := CanonicalQueueName(want); again != want {
			t.Errorf("CanonicalQueueName(%q) = %q: not its own form", want, again)
		}
	}

	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	typed := []string{"redirect:MX.Example", "redirect:[0:0::1]:25", "redirect:mx.example.:025"}
	var ids []ID
	for _, name := range typed {
		m := msg(s, "a@example.org", "x@down.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		m.Rcpts[0].Queue, m.Rcpts[0].Redirect = name, strings.TrimPrefix(name, "redirect:")
		if err := s.Update(ctx, func(tx *Tx) error {
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
			return tx.SetSuspended(name, true) // as an earlier release stored it
		}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // a second open finds nothing to rewrite
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]ID{"redirect:mx.example": {ids[0]}, "redirect:[::1]:25": {ids[1]}, "redirect:mx.example:25": {ids[2]}}
		if err := s.View(func(tx *Tx) error {
			for name, w := range want {
				if got := tx.InQueue(name, 10); !slices.Equal(got, w) {
					t.Errorf("open %d: queue %s holds %v, want %v", round, name, got, w)
				}
			}
			for _, name := range typed {
				if got := tx.InQueue(name, 10); len(got) > 0 {
					t.Errorf("open %d: the typed name %s still indexes %v", round, name, got)
				}
			}
			var names []string
			for _, st := range tx.Queues() {
				names = append(names, st.Name)
			}
			slices.Sort(names)
			if w := []string{"redirect:[::1]:25", "redirect:mx.example", "redirect:mx.example:25"}; !slices.Equal(names, w) {
				t.Errorf("open %d: queues %q, want %q", round, names, w)
			}
			sus := tx.Suspended()
			slices.Sort(sus)
			if w := []string{"redirect:[::1]:25", "redirect:mx.example", "redirect:mx.example:25"}; !slices.Equal(sus, w) {
				t.Errorf("open %d: suspended %q, want %q", round, sus, w)
			}
			for i, id := range ids {
				m, err := tx.Get(id)
				if err != nil {
					return err
				}
				if got := m.Rcpts[0].Queue; got != CanonicalQueueName(typed[i]) {
					t.Errorf("open %d: record %s names queue %q", round, id, got)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Now())
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 10, Clock: clk})
	if n, err := q.ResumeQueue(ctx, "redirect:mx.example"); err != nil || n != 1 {
		t.Fatalf("resume of the rewritten queue: %d, %v; want its one message", n, err)
	}
	if slices.Contains(q.SuspendedQueues(), "redirect:mx.example") {
		t.Fatalf("still suspended: %v", q.SuspendedQueues())
	}
}

// rt19 reread (mendq19b 2): a poison or quarantined record is indexed
// under its holding queue only, not under its recipients' queues; its
// recipients' redirect names stored as typed are rewritten at open all
// the same, so that the message, resumed after the upgrade, is in the
// queue every action on the redirect's one name reaches.
func TestRedirectNamesOfHeldRecordsAreRewrittenAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []ID
	for _, st := range []State{Poison, Quarantined} {
		m := msg(s, "a@example.org", "x@down.test")
		m.State = st
		if st == Quarantined {
			m.Quarantine = "spam"
		}
		m.Rcpts[0].Queue, m.Rcpts[0].Redirect = "redirect:MX.Example", "MX.Example"
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	// A database of a release before the rewrite: no mark that it was done.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.tx.Bucket(bucketMeta).Delete(keyRedirectNamesDone) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, id := range ids {
		var got *Message
		if err := s.View(func(tx *Tx) (err error) { got, err = tx.Get(id); return err }); err != nil {
			t.Fatal(err)
		}
		if q := got.Rcpts[0].Queue; q != "redirect:mx.example" {
			t.Errorf("%s record %s names queue %q after the open, want redirect:mx.example", got.State, id, q)
		}
	}
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 10, Clock: clock.NewFake(time.Now())})
	if err := q.ResumeMessage(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error {
		if got := tx.InQueue("redirect:mx.example", 10); !slices.Equal(got, ids[:1]) {
			t.Errorf("resumed poison message: queue redirect:mx.example holds %v, want %v", got, ids[:1])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// mendy19 item 6: the rewrite of the held records' redirect names is
// done once. The open that did it marks it done in the same commit
// (meta redirect_names_done); a later open reads no poison or
// quarantined record for it, however many there are.
func TestRedirectNamesHeldWalkOnlyOnce(t *testing.T) {
	walks := 0
	defer func(f func()) { onHeldRedirectWalk = f }(onHeldRedirectWalk)
	onHeldRedirectWalk = func() { walks++ }
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "x@down.test")
	m.State = Poison
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	first := walks
	for range 2 {
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if walks != first {
		t.Errorf("opens after the rewrite read the held records %d times, want none", walks-first)
	}
}
