package queue

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue/queuetest"
)

// keptCopies is a Keeper that remembers the copies whose commit went
// through (its after runs only then).
type keptCopies struct {
	mu   sync.Mutex
	kept map[ID][]int
}

func (k *keptCopies) Keep(_ *Tx, m *Message, _ Body, _ string, rcpts []int, _ time.Time) (func(), error) {
	id, rc := m.ID, append([]int(nil), rcpts...)
	return func() {
		k.mu.Lock()
		k.kept[id] = append(k.kept[id], rc...)
		k.mu.Unlock()
	}, nil
}

func (k *keptCopies) of(id ID) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.kept[id])
}

// wait gives the copies of id a bounded time to be heard of (the after
// func runs a moment after the commit that removed the message) and
// returns how many were.
func (k *keptCopies) wait(id ID, want int) int {
	for deadline := time.Now().Add(5 * time.Second); k.of(id) < want && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	return k.of(id)
}

// fileStore is a mailbox store that, like a Maildir, refuses a copy it
// has (by org id and recipient) whoever wrote it; the deliverer asks
// the claims record first, as the real one does.
type fileStore struct {
	q     *Manager
	mu    sync.Mutex
	files map[string]int
	// before runs at the start of each attempt (the test's fault).
	before func(attempt int32)
	calls  atomic.Int32
}

func (f *fileStore) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	n := f.calls.Add(1)
	var out []Result
	for _, i := range rcpts {
		addr := m.Rcpts[i].Addr
		r := Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:DB1", NextHop: "maildir", Database: "DB1", Reply: "250 2.0.0 delivered to maildir"}
		switch f.q.ClaimFinal(m.ID, "DB1", m.OrgID, addr) {
		case Duplicate:
			r.Duplicate, r.Reply = true, "250 2.0.0 duplicate suppressed: record"
		case Busy:
			r.Outcome, r.Reply = Deferred, "451 4.3.0 busy"
		default:
			f.mu.Lock()
			if f.files[m.OrgID+"|"+addr] > 0 {
				r.Duplicate, r.Reply = true, "250 2.0.0 duplicate suppressed: already in the maildir"
			} else {
				f.files[m.OrgID+"|"+addr]++
			}
			f.mu.Unlock()
		}
		out = append(out, r)
	}
	if f.before != nil {
		f.before(n) // after the mailbox write, before the results' commit
	}
	return out
}

func (f *fileStore) put(orgID, addr string) {
	f.mu.Lock()
	f.files[orgID+"|"+addr]++
	f.mu.Unlock()
}

// rt21 F8: an attempt wrote into the mailbox and its results' commit
// failed (a full disk). The attempt used to be made again, found its own
// file and kept no dumpster copy, as if another hub had delivered it.
// Now (rt51 F5) the results stay in memory and their commit is tried
// again: the mailbox is not written again, and the commit that goes
// through keeps the copies and the records, as a delivery; a copy
// another hub wrote still keeps none. (A repeat after a kill -9 in that
// window: TestRepeatAfterKill9KeepsDumpsterCopy.)
func TestRepeatAfterFailedResultsCommitKeepsDumpsterCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keeper := &keptCopies{kept: map[ID][]int{}}
	fs := &fileStore{files: map[string]int{}}
	var restore atomic.Pointer[func()]
	var breakOn atomic.Int32
	fs.before = func(n int32) {
		if n == breakOn.Load() {
			r := queuetest.BreakWrites(t, s.db.Path()) // the disk fills after the mailbox took the message
			restore.Store(&r)
		}
	}
	q := NewManager(s, fs, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Dumpster: keeper})
	fs.q = q
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	// Another hub's copy: found in the mailbox by a first attempt.
	other := msg(s, "a@example.org", "x@example.test")
	other.OrgID = "0123456789abcdef0123456789abcdef"
	fs.put(other.OrgID, "x@example.test")
	if err := q.Submit(ctx, other, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other hub's copy suppressed", func() bool { _, err := q.Message(other.ID); return err == ErrNotFound })

	breakOn.Store(fs.calls.Load() + 1)
	m := msg(s, "a@example.org", "alice@example.test", "bob@example.test")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the results' commit to fail", func() bool { return q.PendingResults() > 0 })
	(*restore.Load())() // room again: the results kept in memory are committed (pendingresults.go)
	deadline := time.Now().Add(10 * time.Second)
	for {
		clk.Advance(strandedRetry)
		if _, err := q.Message(m.ID); err == ErrNotFound {
			break
		}
		if time.Now().After(deadline) {
			got, _ := q.Message(m.ID)
			t.Fatalf("the message's results were not committed: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := keeper.of(other.ID); n != 0 {
		t.Errorf("another hub's copy kept in the dumpster for %d recipients, want none", n)
	}
	if n := keeper.wait(m.ID, 2); n != 2 {
		t.Errorf("the delivery whose first commit failed kept %d dumpster copies, want 2", n)
	}
	if n := fs.calls.Load(); n != breakOn.Load() {
		t.Errorf("%d attempts in all, want %d: the mailbox was written again while the results were pending", n, breakOn.Load())
	}
	s.View(func(tx *Tx) error {
		for _, a := range []string{"alice@example.test", "bob@example.test"} {
			if !tx.WasDelivered("DB1", m.OrgID, a) {
				t.Errorf("no duplicate record for %s after the repeat", a)
			}
		}
		if tx.WasDelivered("DB1", other.OrgID, "x@example.test") {
			t.Error("a duplicate record for another hub's delivery")
		}
		return nil
	})
}

// The same after a kill -9 between the mailbox write and the commit:
// the message is Active at the next start, and Recover marks it, so the
// repeat keeps its dumpster copy; a message that was not in delivery
// (Ready) whose copy the mailbox has is another hub's, and keeps none.
// A message the crash sent to the poison queue keeps the mark for the
// operator's resume.
func TestRepeatAfterKill9KeepsDumpsterCopy(t *testing.T) {
	s := openTest(t)
	fs := &fileStore{files: map[string]int{}}
	var active, ready, poisoned *Message
	for i, st := range []State{Active, Ready, Active} {
		m := msg(s, "a@example.org", "alice@example.test")
		m.State = st
		if i == 2 {
			m.CrashCount = 1 // the second crash on it: the poison queue
		}
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		fs.put(m.OrgID, "alice@example.test") // the mailbox has every one of them
		switch i {
		case 0:
			active = m
		case 1:
			ready = m
		case 2:
			poisoned = m
		}
	}
	keeper := &keptCopies{kept: map[ID][]int{}}
	var evMu sync.Mutex
	delivered := map[ID][]string{} // deliver events by message: their replies
	events := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "deliver" && r != nil {
			evMu.Lock()
			delivered[m.ID] = append(delivered[m.ID], r.Addr+": "+reply)
			evMu.Unlock()
		}
	})
	q := NewManager(s, fs, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}, Dumpster: keeper, PoisonThreshold: 2, Events: events})
	fs.q = q
	if _, poi, err := q.Recover(context.Background()); err != nil || poi != 1 {
		t.Fatalf("recover: %d poisoned, %v", poi, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "both delivered", func() bool {
		_, e1 := q.Message(active.ID)
		_, e2 := q.Message(ready.ID)
		return e1 == ErrNotFound && e2 == ErrNotFound
	})
	if n := keeper.wait(active.ID, 1); n != 1 {
		t.Errorf("the message in delivery at the kill kept %d dumpster copies, want 1", n)
	}
	if n := keeper.of(ready.ID); n != 0 {
		t.Errorf("a copy another hub delivered kept %d dumpster copies, want none", n)
	}
	// The tracking log accounts for the delivery the lost attempt made:
	// the repeat that finds it writes its deliver event (disk12: only
	// duplicate-suppressed was written, and the delivery was nowhere);
	// another hub's copy gets none from here.
	evMu.Lock()
	got, other := delivered[active.ID], delivered[ready.ID]
	evMu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "alice@example.test") || !strings.Contains(got[0], "results were lost") {
		t.Errorf("deliver events of the repeated message: %q; want one for alice@, saying the attempt's results were lost", got)
	}
	if len(other) != 0 {
		t.Errorf("deliver events of another hub's copy: %q; want none", other)
	}
	if err := q.ResumeMessage(ctx, poisoned.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed message delivered", func() bool { _, err := q.Message(poisoned.ID); return err == ErrNotFound })
	if n := keeper.wait(poisoned.ID, 1); n != 1 {
		t.Errorf("the poisoned message, resumed, kept %d dumpster copies, want 1", n)
	}
}

// A restored backup repeats the deliveries the replaced database made
// after the backup: their records and dumpster copies went with that
// database. Every message of the restored database is marked at its
// first Open, so a copy its repeat finds in the mailbox is kept; a
// message queued after the restore is not marked.
func TestRestoredMessagesKeepFoundCopies(t *testing.T) {
	backup, live, small, big, _ := backupWithBodies(t)
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.RestoredFrom() == "" {
		t.Fatal("not seen as restored")
	}
	fresh := msg(s, "a@example.org", "b@example.test")
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(fresh, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		for _, id := range []ID{small, big} {
			if !tx.keepsFoundCopy(id) {
				t.Errorf("restored message %s not marked", id)
			}
		}
		if tx.keepsFoundCopy(fresh.ID) {
			t.Error("a message queued after the restore is marked")
		}
		return nil
	})
}
