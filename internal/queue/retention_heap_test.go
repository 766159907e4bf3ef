package queue

import (
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"
)

// liveHeap is the heap in use after collections.
func liveHeap() uint64 {
	var ms runtime.MemStats
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A writer's function is not kept by the group commit after its commit:
// the batch slice is reused, and a slot a later, smaller batch did not
// overwrite kept the function and what it captured (a message's whole
// body) alive with an idle queue.
func TestCommitLoopKeepsNoFinishedWriter(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	release := make(chan struct{})
	blocked := make(chan struct{})
	go s.Update(ctx, func(tx *Tx) error { close(blocked); <-release; return nil })
	<-blocked
	const n, size = 20, 2 << 20
	var wg sync.WaitGroup
	before := liveHeap()
	for i := 0; i < n; i++ {
		big := make([]byte, size)
		big[i] = 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(ctx, func(tx *Tx) error { _ = big[0]; return nil })
		}()
	}
	// Every writer queued behind the blocked commit: one batch of n.
	waitFor(t, "the writers to queue", func() bool { return s.queued() == n })
	close(release)
	wg.Wait()
	if err := s.Update(ctx, func(tx *Tx) error { return nil }); err != nil { // a batch of one
		t.Fatal(err)
	}
	if after := liveHeap(); after > before+size {
		t.Fatalf("live heap after the commits: %d bytes more than before (each writer captured %d)", after-before, size)
	}
}

// After restored (whole-body) messages were delivered through
// destinations with windows, nothing keeps their bodies: the heap goes
// back to what it was with the queue empty.
func TestDeliveredBodiesNotRetained(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n, size = 20, 2 << 20
	content := bigContent(size)
	for i := 0; i < n; i++ {
		m := msg(s, "a@example.org", "b@one.example", "c@two.example")
		m.State, m.NextAttempt = Ready, time.Now()
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, content) }); err != nil {
			t.Fatal(err)
		}
	}
	content = nil
	before := liveHeap()
	p := &readingPlanned{planned: newPlanned()}
	q := NewManager(s, p, ManagerConfig{})
	qctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); q.Wait() }()
	q.Start(qctx)
	waitFor(t, "the messages to leave", func() bool { return len(messages(t, s)) == 0 })
	// An idle queue (the scheduler and its destinations alive).
	waitFor(t, "the heap to settle", func() bool { return liveHeap() < before+2*size })
	runtime.KeepAlive(q)
}

// readingPlanned streams each body it is given.
type readingPlanned struct{ *planned }

func (p *readingPlanned) DeliverBody(ctx context.Context, m *Message, body Body, rcpts []int) []Result {
	if rd, err := body.Reader(); err == nil {
		io.Copy(io.Discard, rd)
		rd.Close()
	}
	out := make([]Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"}
	}
	return out
}
