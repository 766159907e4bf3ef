package queue

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt17c F1: a recovery whose commit finds the disk full does not stop
// the start: Recover says it waits (ErrRecoveryWaits), the message it
// would recover stays Active on disk (never claimed twice), and the run
// loop tries the commit again. The retry recovers only what was Active
// at the start: a message of this run in delivery meanwhile is not
// counted a crash nor sent again.
func TestRecoveryOnFullDiskRetried(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	stale := msg(s, "a@example.org", "b@example.net")
	stale.State = Active // in delivery at the crash
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(stale, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	p := newPlanned()
	p.stall["slow.test"] = true
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk, PoisonThreshold: 5})
	s.setCommitFault(func(*Tx) error { return syscall.ENOSPC })
	if _, _, err := q.Recover(context.Background()); !errors.Is(err, ErrRecoveryWaits) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Recover on a full disk: %v; want ErrRecoveryWaits wrapping ENOSPC", err)
	}
	s.setCommitFault(nil) // room again (deliveries freed pages)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	fresh := msg(s, "a@example.org", "c@slow.test")
	fresh.Arrived = clk.Now()
	if err := q.Submit(ctx, fresh, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "this run's message in delivery", func() bool { return p.count(p.calls, "slow.test") == 1 })
	if n := p.count(p.calls, "example.net"); n != 0 {
		t.Fatalf("the message Active at the start was attempted %d times before its recovery", n)
	}
	clk.Advance(recoveryRetry)
	q.Kick()
	waitFor(t, "the recovered message delivered", func() bool { return p.count(p.done, "example.net") == 1 })
	got, err := q.Message(fresh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Active || got.CrashCount != 0 {
		t.Fatalf("this run's message in delivery: state %v, crash count %d; want Active, 0", got.State, got.CrashCount)
	}
	if n := p.count(p.calls, "slow.test"); n != 1 {
		t.Fatalf("this run's message attempted %d times, want once", n)
	}
}
