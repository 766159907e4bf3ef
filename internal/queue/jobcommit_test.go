package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"umbra/internal/orgid"
)

// rcptEvents counts the events per "name addr" (addr "" for a message's).
type rcptEvents struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *rcptEvents) Event(name string, m *Message, r *Recipient, reply string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	addr := ""
	if r != nil {
		addr = r.Addr
	}
	e.n[name+" "+addr]++
}

func (e *rcptEvents) count(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[key]
}

// mailboxPlanned is planned whose recipients at mbox.test are delivered
// into mailbox database DB1 (final delivery: Maildir, LMTP).
type mailboxPlanned struct{ *planned }

func (p mailboxPlanned) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	if domainOf(m.Rcpts[rcpts[0]].Addr) != "mbox.test" {
		return p.planned.Deliver(ctx, m, body, rcpts)
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:DB1", NextHop: "maildir", Reply: "250 2.0.0 delivered", Database: "DB1"}
	}
	return out
}

// keepCount is a Keeper that counts the dumpster copies kept per recipient.
type keepCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (k *keepCount) Keep(tx *Tx, m *Message, body Body, database string, rcpts []int, now time.Time) (func(), error) {
	var addrs []string
	for _, i := range rcpts {
		addrs = append(addrs, m.Rcpts[i].Addr)
	}
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.n == nil {
			k.n = map[string]int{}
		}
		for _, a := range addrs {
			k.n[database+" "+a]++
		}
	}, nil
}

func (k *keepCount) count(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[key]
}

// copiedMessage is a message with a copy on hub-b (a shadow copy on
// receipt): its results owe hub-b partial and full discards.
func copiedMessage(s *Store, rcpts ...string) *Message {
	m := msg(s, "a@example.org", rcpts...)
	m.OrgID = orgid.New()
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	return m
}

// owedTo is the discard lines owed to server (full, then partial), not
// acknowledged.
func owedTo(q *Manager, server string) []string {
	lines, _ := q.DiscardsPartial(server, 100)
	return lines
}

// rt20f F1 (SR-4, SR-9): one job per destination; the job that ends first has its
// results committed when it ends — the recipient done in the record and,
// in the same commit, the partial discard owed to the shadow server —
// while the other job hangs in its session; a sender waiting for every
// next hop (SR-9) is not answered then. When the hung job ends, the
// record is what one commit of the whole attempt makes: the attempt
// counted once, one event per recipient.
func TestJobResultsCommittedWhileAnotherJobHangs(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["hung.test"] = true
	ev := &rcptEvents{}
	q := NewManager(s, p, ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(p.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := copiedMessage(s, "x@fast.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	gone, stopWaiting := q.WaitGone(m.ID) // a sender waiting for every next hop (SR-9)
	defer stopWaiting()
	waitFor(t, "x@'s result committed while y@'s job hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[0].Status == Relayed && ev.count("send x@fast.test") > 0 // events follow the commit
	})
	got, _ := q.Message(m.ID)
	if got.State != Active || got.Rcpts[1].Status != Pending || got.Attempts != 0 {
		t.Fatalf("in delivery: state %v, y@ %v, attempts %d; want active, pending, 0", got.State, got.Rcpts[1].Status, got.Attempts)
	}
	partial := PartialDiscard{ID: m.OrgID, Addr: "x@fast.test"}.Wire()
	if owed := owedTo(q, "hub-b"); !slices.Equal(owed, []string{partial}) {
		t.Fatalf("owed to hub-b while y@ hangs: %q; want only the partial discard %q", owed, partial)
	}
	if n := ev.count("send x@fast.test"); n != 1 {
		t.Fatalf("%d send events for x@ once its result is committed, want 1", n)
	}
	select {
	case <-gone:
		t.Fatal("the sender waiting for every next hop was answered while y@ is still in its attempt (SR-9)")
	default:
	}

	close(p.stop) // y@'s next hop times out
	released = true
	waitFor(t, "the attempt's end", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && ev.count("defer y@hung.test") > 0 // events follow the commit
	})
	got, _ = q.Message(m.ID)
	if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Pending || got.Attempts != 1 || got.LastError != "451 4.4.2 timeout" {
		t.Fatalf("after the attempt: x@ %v, y@ %v, attempts %d, last error %q; want relayed, pending, 1, the timeout",
			got.Rcpts[0].Status, got.Rcpts[1].Status, got.Attempts, got.LastError)
	}
	if owed := owedTo(q, "hub-b"); !slices.Equal(owed, []string{partial}) {
		t.Fatalf("owed to hub-b after the attempt: %q; want only the partial discard %q", owed, partial)
	}
	if a, b := ev.count("send x@fast.test"), ev.count("defer y@hung.test"); a != 1 || b != 1 {
		t.Fatalf("events: %d send for x@, %d defer for y@; want one each", a, b)
	}
	select {
	case <-gone:
		t.Fatal("the waiting sender answered with y@ still pending")
	default:
	}
}

// A kill -9 between a job's commit and the attempt's end: the database
// holds the finished recipient done and the hung one pending. At the
// restart the hung recipient is attempted again (not lost) and the
// finished one is not (not repeated), and the message's end writes the
// full discard.
func TestCrashAfterJobCommitRetriesOnlyTheHungRecipient(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["hung.test"] = true
	q := NewManager(s, p, ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	m := copiedMessage(s, "x@fast.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@'s result committed while y@'s job hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[0].Status == Relayed
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
	q2 := NewManager(s2, p2, ManagerConfig{})
	if n, _, err := q2.Recover(context.Background()); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the message in delivery at the crash", n, err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { close(p2.stop); cancel2(); q2.Wait() }()
	q2.Start(ctx2)
	waitFor(t, "the restarted server's attempt", func() bool {
		_, err := q2.Message(m.ID)
		return err == ErrNotFound
	})
	if a, b := p2.count(p2.done, "fast.test"), p2.count(p2.done, "hung.test"); a != 0 || b != 1 {
		t.Fatalf("after the restart: x@ relayed %d times, y@ %d; want 0 (committed before the crash) and 1", a, b)
	}
	if owed := owedTo(q2, "hub-b"); !slices.Contains(owed, m.OrgID) {
		t.Fatalf("owed to hub-b at the end: %q; want the full discard %s", owed, m.OrgID)
	}
}

// The same for a final delivery beside a hung relay: the mailbox
// delivery's claim (the duplicate record) and its dumpster copy go with
// the job's commit, once, not again at the attempt's end.
func TestMailboxJobCommittedWhileRelayHangs(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["hung.test"] = true
	keep := &keepCount{}
	ev := &rcptEvents{}
	q := NewManager(s, mailboxPlanned{p}, ManagerConfig{Dumpster: keep, Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	released := false
	defer func() {
		if !released {
			close(p.stop)
		}
		cancel()
		q.Wait()
	}()
	q.Start(ctx)
	m := copiedMessage(s, "x@mbox.test", "y@hung.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@'s delivery committed while y@'s job hangs", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.Rcpts[0].Status == Delivered && keep.count("DB1 x@mbox.test") > 0 // the copy's after follows the commit
	})
	claimed := false
	s.View(func(tx *Tx) error { claimed = tx.WasDelivered("DB1", m.OrgID, "x@mbox.test"); return nil })
	if !claimed || keep.count("DB1 x@mbox.test") != 1 {
		t.Fatalf("with x@'s delivery committed: claim recorded %v, dumpster copies %d; want true, 1", claimed, keep.count("DB1 x@mbox.test"))
	}
	if owed := owedTo(q, "hub-b"); !slices.Equal(owed, []string{PartialDiscard{ID: m.OrgID, Addr: "x@mbox.test"}.Wire()}) {
		t.Fatalf("owed to hub-b: %q; want x@'s partial discard", owed)
	}
	close(p.stop)
	released = true
	waitFor(t, "the attempt's end", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready
	})
	if n, d := keep.count("DB1 x@mbox.test"), ev.count("deliver x@mbox.test"); n != 1 || d != 1 {
		t.Fatalf("after the attempt: %d dumpster copies of x@, %d deliver events; want 1 and 1", n, d)
	}
}

// The hung job ends while the first job's commit still waits for
// another to ride along with (result_commit_delay): the attempt's end
// waits for it, and the record and events are those of one attempt.
func TestAttemptEndWaitsForJobCommitSetAside(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := newPlanned()
	p.stall["hung.test"] = true
	ev := &rcptEvents{}
	q := NewManager(s, p, ManagerConfig{Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@fast.test", "y@hung.test") // no copy elsewhere: nobody waits, x@'s commit is set aside
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x@ relayed", func() bool { return p.count(p.done, "fast.test") == 1 })
	close(p.stop) // y@'s job ends while x@'s commit may still be set aside
	waitFor(t, "the attempt's end", func() bool {
		got, err := q.Message(m.ID)
		return err == nil && got.State == Ready && ev.count("defer y@hung.test") == 1
	})
	got, _ := q.Message(m.ID)
	if got.Rcpts[0].Status != Relayed || got.Rcpts[1].Status != Pending || got.Attempts != 1 {
		t.Fatalf("x@ %v, y@ %v, attempts %d; want relayed, pending, 1", got.Rcpts[0].Status, got.Rcpts[1].Status, got.Attempts)
	}
	if n := ev.count("send x@fast.test"); n != 1 {
		t.Fatalf("%d send events for x@, want 1", n)
	}
}
