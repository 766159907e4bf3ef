package queue

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-6 (no head-of-line blocking), a sibling of the mailbox's turn
// (delivery mailboxturn.go): a suspect waiting for the suspects' turn
// (suspectgate.go) waits on this server's own serialisation, not on a
// peer, and held its message's slot of the active set meanwhile. With
// max_active 2, one suspect hung on its next hop and a second waiting
// for the turn held the whole set: a message that counted no crash —
// never gated by the turn — waited in the time index until the turn's
// bound passed (the fake clock never moves here). The waiting suspect
// lends its slot now, and the other message is delivered beside them.
func TestQ6SuspectWaitingForTurnHoldsNoActiveSlot(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := submitReady(t, s, 2)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			m.CrashCount = 1
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now().Add(time.Second))
	hung := make(chan struct{}, 2)
	release := make(chan struct{})
	delivered := make(chan ID, 1)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if m.CrashCount > 0 {
			defer AwaitingPeer(ctx)()
			hung <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		delivered <- m.ID
		out := make([]Result, len(rcpts))
		for k, i := range rcpts {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"}
		}
		return out
	}), ManagerConfig{MaxActive: 2, PoisonThreshold: 5, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	select {
	case <-hung: // one suspect holds the turn, hung on its peer; the other waits for it
	case <-time.After(20 * time.Second): // a bound on the test
		t.Fatal("no suspect reached its next hop")
	}
	other := msg(s, "a@example.org", "c@other.example")
	if err := q.Submit(ctx, other, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-delivered:
		if id != other.ID {
			t.Fatalf("delivered %s, want %s", id, other.ID)
		}
	case <-time.After(20 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("a message that counted no crash waited behind a suspect waiting for the suspects' turn")
	}
	select {
	case <-hung:
		t.Fatal("two suspects past the turn at once")
	default:
	}
}

// perRcptDest plans each recipient of a message as a job of its own
// destination (its domain): a message to two domains is two jobs.
type perRcptDest struct {
	DelivererFunc
}

func (perRcptDest) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	var out []Job
	for _, i := range rcpts {
		d := m.Rcpts[i].Addr[strings.IndexByte(m.Rcpts[i].Addr, '@')+1:]
		out = append(out, Job{Dest: d, Queue: "mx:" + d, Rcpts: []int{i}})
	}
	return out
}

// Q-6, the bound of the active set (README: max_active, its reserve's
// share, and at most max_active more lent by waiting jobs): a message
// has one slot of the active set, and a message waiting for the
// suspects' turn lends that one slot, however many of its jobs wait.
// Each waiting job lent one: a suspect to two destinations lent two
// slots for its one, and the set took a message more than the slots
// lent to it — more messages running than max_active and the reserve.
func TestQ6SuspectWithManyJobsLendsItsOneSlot(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	hung := msg(s, "a@example.org", "b@slow.example")
	two := msg(s, "a@example.org", "c@one.example", "d@two.example")
	put := func(m *Message) {
		m.State, m.NextAttempt, m.CrashCount = Ready, time.Now(), 1
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	put(hung) // first: it takes the turn
	clk := clock.NewFake(time.Now().Add(time.Second))
	reached := make(chan ID, 4)
	release := make(chan struct{})
	q := NewManager(s, perRcptDest{DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		defer AwaitingPeer(ctx)()
		reached <- m.ID
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})}, ManagerConfig{MaxActive: 2, PoisonThreshold: 5, Clock: clk})
	var mu sync.Mutex
	looks := map[*attempt]int{}
	look := func(a *attempt) { mu.Lock(); looks[a]++; mu.Unlock() }
	q.suspects.looking.Store(&look)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	select {
	case <-reached: // one suspect holds the turn, hung on its peer
	case <-time.After(20 * time.Second): // a bound on the test
		t.Fatal("no suspect reached its next hop")
	}
	put(two)
	q.Kick()
	// The other suspect's two jobs wait for the turn: each looks once
	// (the turn's holder keeps it, the fake clock never reaches its
	// bound) and lends as its wait begins.
	waitFor(t, "the other suspect's two jobs waiting for the turn", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for a, k := range looks {
			if a.m.ID == two.ID {
				q.sched.mu.Lock()
				defer q.sched.mu.Unlock()
				return k == 2 && a.turnLends == 2
			}
		}
		return false
	})
	if got, want := q.claimLimit(clk.Now()), 2+1; got != want {
		t.Fatalf("claim limit %d with one message waiting for the suspects' turn, want %d (max_active and the one slot it lends)", got, want)
	}
}

// The poison rule beside the lent slot (suspectgate.go, peerwait.go):
// a suspect waiting for the suspects' turn lends its message's slot,
// and a message that counted no crash is claimed into it. A kill -9
// while the suspect holding the turn runs its own code (a poisonous
// message) counts against that suspect alone: not against the suspect
// that lent its slot (it runs nothing while it waits), nor against the
// message claimed into the slot while it waits on its next hop.
func TestQ6KillBesideLentSlotCountsOnlyTheRunningSuspect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := submitReady(t, s, 2)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, id := range ids {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			m.CrashCount = 1
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now().Add(time.Second))
	var mu sync.Mutex
	var running ID
	inOwn := make(chan struct{}, 2)
	atPeer := make(chan ID, 1)
	release := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		if m.CrashCount > 0 {
			mu.Lock()
			running = m.ID
			mu.Unlock()
			inOwn <- struct{}{}
			select { // umbra's code on it, the turn in hand: where the kill comes
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		defer AwaitingPeer(ctx)()
		atPeer <- m.ID
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}), ManagerConfig{MaxActive: 2, PoisonThreshold: 5, Clock: clk})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	select {
	case <-inOwn:
	case <-time.After(20 * time.Second): // a bound on the test
		t.Fatal("no suspect started")
	}
	other := msg(s, "a@example.org", "c@other.example")
	if err := q.Submit(ctx, other, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-atPeer:
		if id != other.ID {
			t.Fatalf("%s at its peer, want %s", id, other.ID)
		}
	case <-time.After(20 * time.Second): // a bound on the test
		t.Fatal("the message that counted no crash was not claimed beside the suspects")
	}
	// The running suspect's slot and the other's, waiting once its
	// attempt's start left (the start is umbra's code on it): the
	// waiting suspect holds none.
	waitFor(t, "two slots in use, the other's waiting", func() bool {
		p := slotPhases(t, path)
		return len(p) == 2 && p[other.ID] == slotWaiting
	})
	counts := crashCounts(t, crashCopy(t, path))
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		want := 1 // the suspect that waited for the turn: not counted again
		if id == running {
			want = 2
		}
		if counts[id] != want {
			t.Errorf("suspect %s (running %v): crash count %d, want %d", id, id == running, counts[id], want)
		}
	}
	if counts[other.ID] != 0 {
		t.Errorf("the message claimed into the lent slot, waiting on its peer: crash count %d, want 0", counts[other.ID])
	}
}
