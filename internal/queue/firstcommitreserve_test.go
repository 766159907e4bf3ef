package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-5 (the space reserve, rt42 F2): the first commit of an attempt's
// results did not use the space reserve, only its retry did
// (pendingresults.go). On a full disk a message the next hop had taken
// stayed in delivery with its results in memory until the retry round
// strandedRetry later — a stop or a crash meanwhile left it Active, and
// the next start sent it again (a duplicate). The first commit gives up
// the reserve as the retry does: the results commit at once, never
// left pending (the event "results-pending").
//
// A real full disk: the queue's database on a tmpfs of its own, filled
// between the next hop's 250 and the results' commit. The fake clock
// never reaches the retry round.
func TestQ5FirstResultsCommitUsesSpaceReserve(t *testing.T) {
	dir := smallDisk(t, "4m")
	s, err := Open(filepath.Join(dir, "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.StartSpaceReserve(256<<10, nil)
	if held, _ := s.SpaceReserveHeld(); !held {
		t.Fatal("no space reserve made on the tmpfs")
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	hop := startCountingHop(t)
	relay := relayTo(hop)
	handed := make(chan struct{})
	gate := make(chan struct{})
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if m.Connector == "dsn" { // the sender's DSN waits: not the next hop's
			return []Result{{Rcpt: rcpts[0], Outcome: Deferred, Reply: "451 4.4.1 not now"}}
		}
		res := relay.Deliver(ctx, m, b, rcpts)
		close(handed)
		<-gate // the disk fills now, before the results' commit
		return res
	})
	ev := &eventLog{}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	// NOTIFY=SUCCESS, RET=FULL, to a next hop that passes no DSN on:
	// the results' commit makes a "relayed" DSN with the whole message,
	// new pages the filled disk has no room for.
	m := msg(s, "a@example.org", "x@example.test")
	m.Rcpts[0].Notify, m.RetFull = NotifySuccess, true
	big := []byte(body + strings.Repeat("a line of the message's text, to be returned whole\r\n", 1200))
	if err := q.Submit(ctx, m, big); err != nil {
		t.Fatal(err)
	}
	select {
	case <-handed:
	case <-time.After(10 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("the message was never handed to the next hop")
	}
	free := fillDisk(t, dir)
	defer free()
	close(gate)
	deadline := time.Now().Add(10 * time.Second) // a bound on the test, not a timing assertion
	for {
		if _, err := q.Message(m.ID); errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			got, _ := q.Message(m.ID)
			t.Fatalf("the results were not committed on the full disk (pending %d, reserve used %d times): %+v",
				q.PendingResults(), s.SpaceReserveUsed(), got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ev.has("results-pending") {
		t.Errorf("the first commit of the results failed on the full disk with the reserve whole: %v", ev.out)
	}
	if q.PendingResults() != 0 || s.SpaceReserveUsed() != 1 {
		t.Errorf("pending results %d, reserve used %d times; want none pending, the reserve given up once", q.PendingResults(), s.SpaceReserveUsed())
	}
	if n := hop.accepted.Load(); n != 1 {
		t.Errorf("the next hop accepted the message %d times, want 1", n)
	}
}
