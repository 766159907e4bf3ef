package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A queue redirect in batches (queuebatch.go): a batch cut short by its
// time moves the messages it reached, each in its commit, and puts the
// messages of its selection it withdrew but did not reach back where
// they waited, still in their attempt and not redirected — never
// redirected in the store while their old jobs go on; the next batch
// takes them. A resume's first batch lifts the suspension, stored and
// in memory, whatever part of the queue it reaches.
func TestQueueBatchCutShortLeavesTheRestAsItWas(t *testing.T) {
	s := openTest(t)
	p := newPlanned()
	p.stall["slow.test"] = true // the window (2) stays full
	q := NewManager(s, p, ManagerConfig{MaxActive: 64})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	for range 10 {
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@slow.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two running, eight waiting for the window", func() bool {
		r, w := waitingOn(q, "mx/slow.test")
		return r == 2 && w == 8
	})
	all, err := q.QueueSelection("redirect", "mx:slow.test")
	if err != nil || len(all) != 10 {
		t.Fatalf("selection: %d messages, %v; want the 8 waiting and the 2 running (rt21c L4: counted, left)", len(all), err)
	}
	q.sched.mu.Lock()
	waiting := q.sched.onQueue("mx:slow.test", false)
	q.sched.mu.Unlock()
	var ids, running []ID
	for _, id := range all {
		if slices.Contains(waiting, id) {
			ids = append(ids, id)
		} else {
			running = append(running, id)
		}
	}
	past := time.Now().Add(-time.Second) // a batch of one message
	b, err := q.QueueBatch(ctx, "redirect", "mx:slow.test", "standby.test:2525", ids, true, past)
	if n, used := b.Changed, b.Used; err != nil || n != 1 || used != 1 {
		t.Fatalf("first batch: %d redirected, %d used, %v; want 1, 1", n, used, err)
	}
	for k, id := range ids {
		m, err := q.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		redirected := m.Rcpts[0].Redirect != ""
		if redirected != (k == 0) || k > 0 && m.State != Active {
			t.Fatalf("message %d after the first batch: %s, redirect %q", k, m.State, m.Rcpts[0].Redirect)
		}
	}
	if _, w := waitingOn(q, "mx/slow.test"); w < 7 {
		t.Fatalf("%d waiting after the first batch, want the 7 not reached back in the queue", w)
	}
	// The command's record (bulktally.go) counts, with its commits, the
	// messages they changed and those they went through and left as
	// they were (OPS-5, ops24 3: the two in delivery).
	tallied := WithTally(ctx, BulkTally{Key: "redirect-cmd", Who: "test", Action: "queue redirect", Queue: "mx:slow.test", Selected: 9})
	b, err = q.QueueBatch(tallied, "redirect", "mx:slow.test", "standby.test:2525", ids[1:], false, time.Time{})
	if n, used := b.Changed, b.Used; err != nil || n != 7 || used != 7 {
		t.Fatalf("second batch: %d redirected, %d used, %v; want 7, 7", n, used, err)
	}
	b, err = q.QueueBatch(tallied, "redirect", "mx:slow.test", "standby.test:2525", running, false, time.Time{})
	if err != nil || b.Changed != 0 || b.KeptInDelivery != 2 {
		t.Fatalf("the batch of the running: %d redirected, %d left in delivery, %v; want 0, 2", b.Changed, b.KeptInDelivery, err)
	}
	if ts, err := q.BulkTallies(); err != nil || len(ts) != 1 || ts[0].Done != 7 || ts[0].Unchanged != 2 || ts[0].Selected != 9 {
		t.Fatalf("the command's record: %+v %v; want 7 changed, 2 left as they were, of 9 selected", ts, err)
	}
	if err := q.EndTally("redirect-cmd"); err != nil {
		t.Fatal(err)
	}

	// resume: the first batch, cut short, lifts the suspension.
	if err := q.SuspendQueue(ctx, "redirect:standby.test:2525"); err != nil {
		t.Fatal(err)
	}
	ids, err = q.QueueSelection("resume", "redirect:standby.test:2525")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.QueueBatch(ctx, "resume", "redirect:standby.test:2525", "", ids, true, past); err != nil {
		t.Fatal(err)
	}
	if got := q.SuspendedQueues(); len(got) != 0 {
		t.Fatalf("suspended in memory after the resume's first batch: %v", got)
	}
	s.View(func(tx *Tx) error {
		if tx.IsSuspended("redirect:standby.test:2525") {
			t.Error("still suspended in the store after the resume's first batch")
		}
		return nil
	})
}

// A redirect's batches count the REQUIRETLS messages they keep on their
// route (rt17d F6), so that the CLI says how many stayed without listing
// the queue: those of the selection only, not a message arrived since
// nor one left alone in delivery.
func TestRedirectBatchCountsKeptRequireTLS(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, newPlanned(), ManagerConfig{})
	ctx := context.Background()
	put := func(requireTLS bool, st State) *Message {
		m := msg(s, "a@example.org", "x@slow.test")
		m.RequireTLS, m.State, m.NextAttempt = requireTLS, st, time.Now().Add(time.Hour)
		m.Rcpts[0].Queue = "mx:slow.test"
		if err := s.Update(ctx, func(tx *Tx) error { return tx.Put(m) }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	put(false, Ready)
	put(true, Ready)
	put(true, Suspended)
	put(true, Active) // in delivery: left alone, not "kept"
	ids, err := q.QueueSelection("redirect", "mx:slow.test")
	if err != nil || len(ids) != 4 {
		t.Fatalf("selection: %d messages, %v", len(ids), err)
	}
	put(true, Ready) // arrived after the selection
	b, err := q.QueueBatch(ctx, "redirect", "mx:slow.test", "standby.test:2525", ids, true, time.Time{})
	if err != nil || b.Changed != 1 || b.Used != 4 || b.KeptRequireTLS != 2 {
		t.Fatalf("redirect: %+v, %v; want 1 moved, 4 gone through, 2 REQUIRETLS kept", b, err)
	}
}

// A batch ends by its time, its commits included (Q-4: every batch
// answered within a quarter of the client's wait): once a commit is
// measured, the next is started only when the time left allows one of
// that cost. Here a commit's steps after it take 100ms (as a slow fsync
// on a loaded disk would): with 150ms for the batch, the first commit of
// queueChunk messages ends with about 50ms left, and no second commit
// starts, which would end 50ms past the time.
func TestQueueBatchStartsNoCommitItCannotFinish(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, newPlanned(), ManagerConfig{})
	ids := make([]ID, queueChunk+44)
	for i := range ids {
		ids[i] = ID(i + 1) // none stored: each is gone, skipped, gone through
	}
	commits := 0
	steps := chunkSteps{after: func([]ID, int, error) { commits++; time.Sleep(100 * time.Millisecond) }}
	_, used, err := q.inChunks(context.Background(), ids, time.Now().Add(150*time.Millisecond), steps,
		func(*Tx, *Message) (bool, error) { return false, nil })
	if err != nil || commits != 1 || used > queueChunk {
		t.Fatalf("%d commits, %d of %d ids gone through, %v; want the first commit only", commits, used, len(ids), err)
	}
}
