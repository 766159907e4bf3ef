package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SPEC Q-3 (rrdeliv44b): a host's reply moves the stall's since of the
// transaction it answered, not of another job of the message on
// another connection to that host. Two recipient domains whose MX is
// one host are two jobs of one attempt, two sessions: one session
// answering an RCPT said nothing of the other, stalled, whose "no reply
// since" moved with its sibling's replies.
func TestQ3HostRepliedMovesOnlyItsTransaction(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	q := NewManager(openTest(t), nil, ManagerConfig{Clock: clk})
	a := &attempt{m: &Message{ID: q.NewID()}}
	ctx1, j1 := q.withJob(context.Background(), a)
	defer q.jobLeft(j1)
	ctx2, j2 := q.withJob(context.Background(), a)
	defer q.jobLeft(j2)
	const host = "mx.example.net[192.0.2.1]"
	done1 := InEnvelope(ctx1, []int{0}, host)
	defer done1()
	done2 := InEnvelope(ctx2, []int{1}, host)
	defer done2()
	clk.Advance(30 * time.Second)
	HostReplied(ctx1, host, []int{0})
	a.mu.Lock()
	moved, stalled := a.inData[0].since, a.inData[1].since
	a.mu.Unlock()
	if !moved.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("the answered transaction's since is %s, want its host's reply, %s", moved, t0.Add(30*time.Second))
	}
	if !stalled.Equal(t0) {
		t.Errorf("the other session's stalled recipient waits since %s, want its envelope's start %s: another session's reply moved it", stalled, t0)
	}
}

// A reply of one host leaves a mark with another host as it was.
func TestQ3HostRepliedOnlyThatHost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	q := NewManager(openTest(t), nil, ManagerConfig{Clock: clk})
	a := &attempt{m: &Message{ID: q.NewID()}}
	ctx1, j1 := q.withJob(context.Background(), a)
	defer q.jobLeft(j1)
	ctx2, j2 := q.withJob(context.Background(), a)
	defer q.jobLeft(j2)
	done1 := InEnvelope(ctx1, []int{0}, "mx1.example.net[192.0.2.1]")
	defer done1()
	done2 := InEnvelope(ctx2, []int{1}, "mx2.example.org[192.0.2.2]")
	defer done2()
	clk.Advance(30 * time.Second)
	HostReplied(ctx1, "mx1.example.net[192.0.2.1]", []int{0, 1})
	a.mu.Lock()
	stalled := a.inData[1].since
	a.mu.Unlock()
	if !stalled.Equal(t0) {
		t.Errorf("a mark with another host moved: since %s, want %s", stalled, t0)
	}
}
