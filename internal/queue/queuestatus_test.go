package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt17c F3: queue list's status and next retry are true at any count. A
// queue of more messages than one scan reads (nextRetryScan), nearly all
// suspended one by one and a few waiting for their retry after them,
// is "retry" with those few's next retry, as the same queue of a few
// messages is — not "ready" with none, because the scan read only
// suspended records.
func TestQueueStatusTrueBeyondScan(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	const name = "site:siteb"
	next := t0.Add(4 * time.Minute)
	put := func(n int, st State) {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for range n {
				m := txMsg(tx, "a@example.org", "x@b.test")
				m.Arrived = t0.Add(-time.Minute)
				m.Rcpts[0].Queue = name
				m.Rcpts[0].LastReply = "451 4.4.1 connect to mx.b.test: connection refused"
				m.State, m.Attempts, m.NextAttempt = st, 1, next
				if err := tx.PutNew(m, []byte(body)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(nextRetryScan+50, Suspended)
	put(5, Ready) // after the suspended ones in the queue's order (newer ids)
	q := NewManager(s, nil, ManagerConfig{MaxActive: 100, Clock: clk})
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		if qi.Name != name {
			continue
		}
		if qi.Status != "retry" || !qi.NextRetry.Equal(next) || qi.ByState["retry"] != 5 {
			t.Fatalf("queue %s: status %q, next retry %v, by state %v; want retry, %v, 5 retry", name, qi.Status, qi.NextRetry, qi.ByState, next)
		}
		return
	}
	t.Fatalf("queue %s not listed: %+v", name, qs)
}

// The retry counts are exact at any count (Q-2, OPS-): a dead
// destination's queue of more retry messages than one scan reads
// (nextRetryScan) shows every one of them "retry" in queue list and in
// the gauges' split, as message list does — not the scan's bound as
// "retry" and the rest as "ready".
func TestQueueRetryCountBeyondScan(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	const name = "smarthost:sink.test"
	const retrying, due = nextRetryScan + 30, 7
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for i := range retrying + due {
			m := txMsg(tx, "a@example.org", "x@b.test")
			m.Arrived = t0.Add(-time.Minute)
			m.Rcpts[0].Queue = name
			m.State, m.Attempts, m.NextAttempt = Ready, 1, t0.Add(4*time.Minute)
			m.Rcpts[0].LastReply = "451 4.4.1 connect to sink.test: connection refused"
			if i >= retrying { // not attempted yet, due now
				m.Attempts, m.NextAttempt, m.Rcpts[0].LastReply = 0, t0.Add(-time.Second), ""
			}
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{MaxActive: 100, Clock: clk})
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, qi := range qs {
		if qi.Name == name {
			found = true
			if qi.ByState["retry"] != retrying || qi.ByState["ready"] != due || qi.Count != retrying+due {
				t.Errorf("queue list: %s by state %v of %d; want %d retry, %d ready", name, qi.ByState, qi.Count, retrying, due)
			}
		}
	}
	if !found {
		t.Fatalf("queue %s not listed", name)
	}
	stats, err := s.QueueStats(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		if st.Name == name && (st.Retry != retrying || st.ByState[Ready] != retrying+due) {
			t.Errorf("gauges: %s retry %d of %d ready; want %d of %d", name, st.Retry, st.ByState[Ready], retrying, retrying+due)
		}
	}
}

// peekRetryFields reads of any record that decodes what decodeMessage
// reads (the state, attempted or answered, next attempt): the retry
// counts and every view of a message agree. It never panics.
func FuzzPeekRetryFields(f *testing.F) {
	m := &Message{ID: 42, State: Ready, From: "a@example.org", Attempts: 2, NextAttempt: time.Unix(1_700_000_000, 5),
		Rcpts: []Recipient{{Addr: "b@example.net", Queue: "mx:example.net", LastReply: "451 4.4.1 later"}}}
	f.Add(m.encode())
	f.Add(legacyRecord(m)) // version 1, before org ids
	m.Attempts, m.LastError, m.OrgID = 0, "451 4.4.0 no answer", "0123456789abcdef0123456789abcdef"
	f.Add(m.encode())
	m.State, m.Quarantine = Quarantined, "spam"
	f.Add(m.encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := peekRetryFields(b)
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		want := retryFields{m.State, m.Attempts > 0 || m.LastError != "", m.NextAttempt}
		if !ok || got.state != want.state || got.attempted != want.attempted || !got.next.Equal(want.next) {
			t.Fatalf("peek %+v (ok %v); the record decodes to %+v", got, ok, want)
		}
	})
}

// BenchmarkQueueRetrySplit is the gauges' cost for one queue of 20,000
// messages waiting for their retry, every one's retry fields read
// (QueueStats), each with 20 recipients: the cost follows the messages,
// not their recipients.
func BenchmarkQueueRetrySplit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	next := time.Now().Add(time.Hour)
	for range 20 {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for range 1000 {
				m := &Message{ID: tx.NewID(time.Now()), State: Ready, Attempts: 1, NextAttempt: next}
				for i := range 20 {
					m.Rcpts = append(m.Rcpts, Recipient{Addr: fmt.Sprintf("x%d@example.net", i), Queue: "smarthost:sink", LastReply: "451 4.4.1 connection refused"})
				}
				if err := tx.PutNew(m, []byte(body)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("retry fields", func(b *testing.B) {
		for range b.N {
			qs, err := s.QueueStats(nil)
			if err != nil || len(qs) != 1 || qs[0].Retry != 20000 {
				b.Fatalf("%+v %v", qs, err)
			}
		}
	})
	// For comparison: every record decoded whole, as the bounded count
	// did for its first 10,000.
	b.Run("whole records", func(b *testing.B) {
		for range b.N {
			n := 0
			s.View(func(tx *Tx) error {
				for _, id := range tx.InQueueIn("smarthost:sink", Ready, 1<<30) {
					if m, err := tx.Get(id); err == nil && DisplayState(m, time.Now()) == "retry" {
						n++
					}
				}
				return nil
			})
			if n != 20000 {
				b.Fatalf("%d", n)
			}
		}
	})
}

// mendx19 item 2: the stored error of a queue the running process has
// not tried (after a restart) is the reply of its most recently
// deferred message (the latest next attempt) at any count: here
// the newest id, beyond the first nextRetryScan records of the queue's
// order, which is all a bounded scan of whole records read.
func TestQueueStoredErrorBeyondScan(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	const name = "smarthost:sink.test"
	const latest = "451 4.4.1 connect to sink.test: no route to host"
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for i := range nextRetryScan + 31 {
			m := txMsg(tx, "a@example.org", "x@b.test")
			m.Arrived = t0.Add(-time.Minute)
			m.Rcpts[0].Queue = name
			m.State, m.Attempts, m.NextAttempt = Ready, 1, t0.Add(4*time.Minute)
			m.Rcpts[0].LastReply = "451 4.4.1 connect to sink.test: connection refused"
			if i == nextRetryScan+30 { // the newest id, deferred last
				m.NextAttempt, m.Rcpts[0].LastReply = t0.Add(9*time.Minute), latest
			}
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{MaxActive: 100, Clock: clk})
	qs, err := q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, qi := range qs {
		if qi.Name == name {
			if qi.LastError != latest {
				t.Errorf("queue %s: last error %q, want %q", name, qi.LastError, latest)
			}
			return
		}
	}
	t.Fatalf("queue %s not listed", name)
}
