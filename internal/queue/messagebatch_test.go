package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// countWrites counts the writers' functions the store runs from now on
// (a writer's function runs once per try of its commit).
func countWrites(s *Store) *atomic.Int64 {
	var n atomic.Int64
	s.setCommitFault(func(*Tx) error { n.Add(1); return nil })
	return &n
}

// putWaiting stores n ready messages waiting for a retry an hour after
// now, in commits of up to 5,000.
func putWaiting(t testing.TB, s *Store, n int, now time.Time) []ID {
	t.Helper()
	ids := make([]ID, 0, n)
	for len(ids) < n {
		k := min(5000, n-len(ids))
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for i := range k {
				m := msg(s, "a@example.org", fmt.Sprintf("r%d@later.test", len(ids)+i))
				m.State, m.Attempts, m.LastError, m.NextAttempt = Ready, 1, "451 4.4.1 try later", now.Add(time.Hour)
				m.Rcpts[0].Queue = "mx:later.test"
				if err := tx.Put(m); err != nil {
					return err
				}
				ids = append(ids, m.ID)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// message retry --all is many messages per commit, as suspend, resume
// and remove are (ops22 1): every message made due, in about one commit
// per queueChunk messages, not one commit each.
func TestMessageBatchRetryManyPerCommit(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 64, Clock: clk})
	const n = 600
	ids := putWaiting(t, s, n, clk.Now())
	writes := countWrites(s)
	errs := q.MessageBatch(context.Background(), "retry", ids, false, false, time.Time{})
	s.setCommitFault(nil)
	if len(errs) != n {
		t.Fatalf("%d outcomes, want %d", len(errs), n)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("retry of message %d: %v", i, err)
		}
	}
	for _, id := range ids {
		m, err := q.Message(id)
		if err != nil || m.NextAttempt.After(clk.Now()) || !m.ManualRetry {
			t.Fatalf("message %s after the retry: %v, next attempt %v (now %v)", id, err, m.NextAttempt, clk.Now())
		}
	}
	if w, most := writes.Load(), int64(n/queueChunk+2); w > most {
		t.Fatalf("retry of %d messages took %d commits, want at most %d (%d per commit)", n, w, most, queueChunk)
	}
}

// A command that goes away during a commit of its batch (Ctrl-C) has
// the messages of that commit done, and those the commit left for the
// command for one message (in delivery, quarantined, gone) not reached
// — not failed on the cancelled context (mendc20 reread).
func TestMessageBatchCancelledLeavesTheRestNotReached(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 64, Clock: clk})
	ids := putWaiting(t, s, 4, clk.Now())
	// The third is in its attempt: left to the command for one message.
	if err := s.Update(context.Background(), func(tx *Tx) error {
		m, err := tx.Get(ids[2])
		if err != nil {
			return err
		}
		m.State = Active
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"suspend", "retry"} {
		ctx, cancel := context.WithCancel(context.Background())
		s.setCommitFault(func(*Tx) error { cancel(); return nil }) // the client goes away during the commit
		errs := q.MessageBatch(ctx, action, ids, false, false, time.Time{})
		s.setCommitFault(nil)
		cancel()
		if len(errs) != 2 {
			t.Fatalf("%s: %d outcomes %v, want the 2 of the commit (the rest not reached)", action, len(errs), errs)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s: message %d: %v", action, i, err)
			}
		}
		if action == "suspend" {
			for _, id := range ids[:2] {
				if m, _ := q.Message(id); m == nil || m.State != Suspended {
					t.Fatalf("%s not suspended", id)
				}
			}
			for _, id := range ids[:2] {
				if err := q.ResumeMessage(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// rt21c M2: a bulk action behind a dead destination refuses none of its
// messages as in delivery: one whose attempt only got the dead mark's
// answer is waited for and acted on, in the batch as alone
// (TestSuspendBehindDeadDestinationNotBusy); so is the dry run's check
// (AwaitSettled).
func TestMessageBatchBehindDeadDestinationNotBusy(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(map[bool]string{false: "suspend", true: "dry-run"}[dry], func(t *testing.T) {
			// Results committed as the daemon does (result_commit_delay,
			// 10ms by default): the dead mark's answers wait that long
			// for a commit to ride along with.
			s, err := Open(t.TempDir()+"/queue.db", Options{DeferLimit: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			t0 := time.Unix(1_700_000_000, 0)
			clk := clock.NewFake(t0)
			p := newPlanned()
			p.refuse["down.test"] = true
			// A small active set: the dead mark's answers churn through
			// it, a part at a time, while the command goes through the
			// selection.
			q := NewManager(s, p, ManagerConfig{MaxActive: 32, Clock: clk,
				RetrySchedule: []time.Duration{time.Hour},
				Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Minute}})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { close(p.stop); cancel(); q.Wait() }()
			q.Start(ctx)
			const n = 600
			var ids []ID
			for i := range n {
				m := msg(s, "a@example.org", fmt.Sprintf("r%d@down.test", i))
				m.Arrived = clk.Now()
				if err := q.Submit(ctx, m, []byte(body)); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, m.ID)
			}
			waitFor(t, "every message deferred", func() bool { return allDeferred(q, ids, clk.Now()) })
			// The cool-down ends: every message is due and claimed
			// again, the probe refused, the rest answered by the dead
			// mark — while the operator's bulk command runs.
			clk.Advance(time.Minute + time.Second)
			q.Kick()
			busy := 0
			if dry {
				// The dry run's check (admin): the view's refusal, and
				// for a message found in its attempt, the wait for it to
				// settle (AwaitSettled) and a fresh look.
				// Dry runs one after the other while the churn lasts
				// (bounded: 200 passes).
				for pass := 0; pass < 200 && !allDeferred(q, ids, clk.Now()); pass++ {
					sv := q.StateView()
					for _, id := range ids {
						m, err := q.Message(id)
						if err != nil {
							t.Fatal(err)
						}
						err = sv.Refusal("suspend", m)
						if errors.Is(err, ErrBusy) && q.AwaitSettled(ctx, id) {
							if m, err = q.Message(id); err == nil {
								err = q.StateView().Refusal("suspend", m)
							}
						}
						if errors.Is(err, ErrBusy) {
							busy++
						}
					}
				}
			} else {
				for _, err := range q.MessageBatch(ctx, "suspend", ids, false, false, time.Time{}) {
					if errors.Is(err, ErrBusy) {
						busy++
					}
				}
			}
			if busy > 1 { // one may be the probe, truly in delivery
				t.Fatalf("%d of %d refused as being delivered behind a dead destination, want at most the probe", busy, n)
			}
		})
	}
}

// allDeferred: every message of ids waits for a later attempt.
func allDeferred(q *Manager, ids []ID, now time.Time) bool {
	for _, id := range ids {
		if got, _ := q.Message(id); got == nil || got.State != Ready || !got.NextAttempt.After(now) {
			return false
		}
	}
	return true
}

// BenchmarkMessageBatchRetry is message retry --all on
// UMBRA_BENCH_MESSAGES (default 100,000) messages waiting for a retry:
// go test ./internal/queue -run '^$' -bench MessageBatchRetry -benchtime 1x
func BenchmarkMessageBatchRetry(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		s, err := Open(b.TempDir()+"/queue.db", Options{})
		if err != nil {
			b.Fatal(err)
		}
		clk := clock.NewFake(time.Unix(1_700_000_000, 0))
		q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 64, Clock: clk})
		ids := putWaiting(b, s, n, clk.Now())
		writes := countWrites(s)
		b.StartTimer()
		start := time.Now()
		errs := q.MessageBatch(context.Background(), "retry", ids, false, false, time.Time{})
		took := time.Since(start)
		b.StopTimer()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(writes.Load()), "commits")
		b.ReportMetric(took.Seconds(), "s/command")
		s.Close()
	}
}

// A bulk action's selection is the ids Messages lists, in its order and
// to its limit, with no record kept (ops22 2): MessageIDs.
func TestMessageIDsAreMessagesIDs(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 64, Clock: clk})
	putWaiting(t, s, 700, clk.Now())
	for _, f := range []MessageFilter{{Limit: 1_000_000}, {Limit: 300}, {Queue: "mx:later.test", Limit: 1_000_000},
		{Queue: "mx:later.test", Limit: 10}, {State: "retry", Limit: 1000}} {
		ms, err := q.Messages(f)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := q.MessageIDs(f)
		if err != nil || len(ids) != len(ms) || len(ms) == 0 {
			t.Fatalf("filter %+v: %d ids (%v), %d messages", f, len(ids), err, len(ms))
		}
		for i, m := range ms {
			if ids[i] != m.ID {
				t.Fatalf("filter %+v: id %d is %s, the listing's %s", f, i, ids[i], m.ID)
			}
		}
	}
}

// BenchmarkBulkSelection is the memory of a bulk action's selection of
// UMBRA_BENCH_MESSAGES (default 100,000) messages: the records
// (Messages, as the first batch kept them) against the ids (MessageIDs).
// go test ./internal/queue -run '^$' -bench BulkSelection -benchtime 1x -benchmem
func BenchmarkBulkSelection(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	s, err := Open(b.TempDir()+"/queue.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 64, Clock: clk})
	putWaiting(b, s, n, clk.Now())
	f := MessageFilter{Limit: 1_000_000}
	// held is the heap the result holds once the selection is made.
	held := func(b *testing.B, sel func() int) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if k := sel(); k != n {
			b.Fatalf("%d selected, want %d", k, n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-held")
	}
	b.Run("records", func(b *testing.B) {
		for range b.N {
			var ms []*Message
			held(b, func() int { ms, _ = q.Messages(f); return len(ms) })
			runtime.KeepAlive(ms)
		}
	})
	b.Run("ids", func(b *testing.B) {
		for range b.N {
			var ids []ID
			held(b, func() int { ids, _ = q.MessageIDs(f); return len(ids) })
			runtime.KeepAlive(ids)
		}
	})
}
