package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/smtp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/testsupport"
)

// countingHop is a real SMTP next hop on a loopback address of its own
// that counts the transactions it accepted (250 after the data).
type countingHop struct {
	addr     string
	accepted atomic.Int32
}

func startCountingHop(t *testing.T) *countingHop {
	t.Helper()
	var ln net.Listener
	var err error
	for range 20 {
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.%d.%d:0", rand.IntN(200)+20, rand.IntN(250)+2))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := &countingHop{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return h
}

func (h *countingHop) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 hop ready\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "EHLO", "HELO":
			fmt.Fprint(c, "250 hop\r\n")
		case "MAIL", "RCPT", "RSET", "NOOP":
			fmt.Fprint(c, "250 ok\r\n")
		case "DATA":
			fmt.Fprint(c, "354 go on\r\n")
			if _, err := testsupport.ReadData(r); err != nil {
				return
			}
			h.accepted.Add(1)
			fmt.Fprint(c, "250 queued\r\n")
		case "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "500 what\r\n")
		}
	}
}

// relayTo is a deliverer that relays every recipient to hop over SMTP.
func relayTo(hop *countingHop) Deliverer {
	return DelivererFunc(func(_ context.Context, m *Message, b []byte, rcpts []int) []Result {
		var to []string
		for _, i := range rcpts {
			to = append(to, m.Rcpts[i].Addr)
		}
		outcome, reply := RelayedOK, "250 queued"
		if err := smtp.SendMail(hop.addr, nil, m.From, to, b); err != nil {
			outcome, reply = Deferred, "451 4.4.1 "+err.Error()
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: outcome, Reply: reply, Queue: "smarthost:hop", NextHop: hop.addr})
		}
		return out
	})
}

// rt51 F5: a relayed message was sent to the next hop again every 5 s
// for as long as the disk stayed full. The commit of its results (which
// must grow the file) failed, the small commit that made it due again
// went through, and each new attempt handed it to the next hop again.
// Now the results themselves are kept in memory and their commit is
// tried again: the next hop sees the message once, however long the
// results' commit fails.
func TestFailedResultCommitDoesNotDeliverAgain(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	hop := startCountingHop(t)
	m := msg(s, "a@example.org", "x@example.test")
	// The results' commit removes the message (every recipient relayed):
	// that commit fails with ENOSPC; every other goes through.
	var seen, full atomic.Bool
	full.Store(true)
	var failed atomic.Int32
	s.setCommitFault(func(tx *Tx) error {
		_, err := tx.Get(m.ID)
		if err == nil {
			seen.Store(true)
			return nil
		}
		if errors.Is(err, ErrNotFound) && seen.Load() && full.Load() {
			failed.Add(1)
			return fmt.Errorf("write %s: %w", s.db.Path(), syscall.ENOSPC)
		}
		return nil
	})
	ev := &eventLog{}
	q := NewManager(s, relayTo(hop), ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the results' commit to fail", func() bool { return failed.Load() > 0 })
	// The disk stays full for a while: many rounds of the retry.
	for i := range 6 {
		want := failed.Load() + 1
		clk.Advance(strandedRetry)
		q.Kick()
		waitFor(t, fmt.Sprintf("round %d of the results' commit", i), func() bool { return failed.Load() >= want })
	}
	if n := hop.accepted.Load(); n != 1 {
		t.Fatalf("the next hop accepted the message %d times while its results could not be committed, want 1", n)
	}
	if got, err := q.Message(m.ID); err != nil || got.State != Active {
		t.Fatalf("while its results are pending: %+v, %v (want the message in delivery)", got, err)
	}
	if q.PendingResults() != 1 {
		t.Fatalf("pending results: %d, want 1", q.PendingResults())
	}
	if !ev.has("results-pending") {
		t.Fatalf("no results-pending event: %v", ev.out)
	}
	// Per recipient, with its queue: the metric's queue_type label is
	// that queue's type, not empty (rt54 L3).
	if !ev.has("results-pending smarthost:hop:") {
		t.Errorf("the results-pending event names no recipient's queue: %v", ev.out)
	}
	full.Store(false) // room again
	deadline := time.Now().Add(10 * time.Second)
	for {
		clk.Advance(strandedRetry)
		q.Kick()
		if _, err := q.Message(m.ID); errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			got, _ := q.Message(m.ID)
			t.Fatalf("the results were never committed: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := hop.accepted.Load(); n != 1 {
		t.Fatalf("the next hop accepted the message %d times, want 1", n)
	}
	waitFor(t, "the pending results let go", func() bool { return q.PendingResults() == 0 })
	waitFor(t, "the send event", func() bool { return ev.has("send") })
	if !ev.has("send") {
		t.Fatalf("no send event once the results were committed: %v", ev.out)
	}
}

// The sibling in final delivery: a mailbox write whose results wait for
// their commit keeps its claim (finalclaims.go) until that commit goes
// through, so another copy of the message (a takeover's, a resubmission)
// is Busy there, never Fresh: the record that would make it a Duplicate
// is not written yet.
func TestPendingResultsKeepFinalClaims(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := msg(s, "a@example.org", "alice@example.test")
	var seen, full atomic.Bool
	full.Store(true)
	var failed atomic.Int32
	s.setCommitFault(func(tx *Tx) error {
		_, err := tx.Get(m.ID)
		if err == nil {
			seen.Store(true)
			return nil
		}
		if errors.Is(err, ErrNotFound) && seen.Load() && full.Load() {
			failed.Add(1)
			return fmt.Errorf("write: %w", syscall.ENOSPC)
		}
		return nil
	})
	var q *Manager
	del := DelivererFunc(func(_ context.Context, dm *Message, _ []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			if q.ClaimFinal(dm.ID, "DB1", dm.OrgID, dm.Rcpts[i].Addr) != Fresh {
				t.Errorf("the first delivery's claim was not fresh")
			}
			out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250 delivered", Queue: "mailbox:DB1", Database: "DB1"})
		}
		return out
	})
	q = NewManager(s, del, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the results pending", func() bool { return q.PendingResults() > 0 })
	other := s.NewID(clk.Now()) // another copy of the same message (its org id)
	if c := q.ClaimFinal(other, "DB1", m.OrgID, "alice@example.test"); c != Busy {
		t.Fatalf("another copy's claim while the first's results are pending: %v, want Busy", c)
	}
	full.Store(false)
	waitFor(t, "the pending results committed", func() bool {
		clk.Advance(strandedRetry)
		q.Kick()
		return q.PendingResults() == 0
	})
	waitFor(t, "the claim released", func() bool {
		return q.ClaimFinal(other, "DB1", m.OrgID, "alice@example.test") == Duplicate
	})
}
