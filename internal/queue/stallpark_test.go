package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// stallSuspects is the scene of the tests below: m1, a suspect, holds
// the suspects' turn in its session (its delivery held until release);
// m2, a suspect whose copy hub-b holds, is claimed after it and waits
// for the turn. round runs the stall's round: it asks hub-b, which
// delivered m2's recipient during the stall, what it finished.
type stallSuspects struct {
	s       *Store
	clk     *clock.Fake
	q       *Manager
	o       *perDomainLocal
	ctx     context.Context
	m1, m2  *Message
	changed int // recipients the round marked done
	inDel   int // recipients the round found in delivery
	during  int // m2's deliveries when the round asked
	done    chan struct{}
	release func()
}

// perDomainLocal is perDomain with recipients of local.example planned
// without a destination (as a recipient waiting on a directory lookup).
type perDomainLocal struct{ perDomain }

func (o *perDomainLocal) Plan(ctx context.Context, m *Message, rcpts []int) []Job {
	if strings.HasSuffix(m.Rcpts[rcpts[0]].Addr, "@local.example") {
		return []Job{{Rcpts: rcpts}}
	}
	return o.perDomain.Plan(ctx, m, rcpts)
}

var errInjected = errors.New("injected: no room on the disk")

const stallOrg = "0123456789abcdef0123456789abcdef"

// newStallSuspects starts the manager with m1 in its session; before
// asks hub-b, the round waits until ready holds (nil: at once).
func newStallSuspects(t *testing.T, cfg ManagerConfig, ready func(*stallSuspects) bool) *stallSuspects {
	x := &stallSuspects{s: openTest(t), done: make(chan struct{})}
	x.clk = clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	x.o = &perDomainLocal{perDomain{windowOne{gate: make(chan struct{}), calls: map[ID]int{}}}}
	cfg.MaxActive, cfg.Clock, cfg.Hostname, cfg.RetrySchedule = 100, x.clk, "mx.test", []time.Duration{time.Minute}
	x.q = NewManager(x.s, x.o, cfg)
	x.q.GuardStall(func() time.Duration { return 5 * time.Minute }, func(ctx context.Context) {
		if ready != nil {
			waitFor(t, "the round's moment", func() bool { return ready(x) })
		}
		x.during = x.o.attempts(x.m2.ID)
		fe, busy, err := x.q.ShadowFinishedElsewhere("hub-b", []TakenDone{{ID: stallOrg, Addr: x.m2.Rcpts[0].Addr, Kind: TakenDelivered}})
		if err != nil {
			t.Error(err)
		}
		x.changed, x.inDel = len(fe), busy
		close(x.done)
	})
	ctx, cancel := context.WithCancel(context.Background())
	x.ctx = ctx
	var open sync.Once
	x.release = func() { open.Do(func() { close(x.o.gate) }) }
	t.Cleanup(func() { x.release(); cancel(); x.q.Wait() })
	x.q.Start(ctx)
	x.m1 = msg(x.s, "a@example.org", "w@x.example")
	x.m1.CrashCount = 1
	x.o.first = x.m1.ID
	x.q.Submit(ctx, x.m1, []byte(body))
	waitFor(t, "m1 in its session, holding the suspects' turn", func() bool { return x.o.attempts(x.m1.ID) == 1 })
	return x
}

// submitM2 submits m2, a suspect of one recipient rcpt whose copy
// hub-b holds.
func (x *stallSuspects) submitM2(rcpt string) {
	x.m2 = msg(x.s, "a@example.org", rcpt)
	x.m2.CrashCount = 1
	x.m2.OrgID, x.m2.ShadowServer, x.m2.ShadowID = stallOrg, "hub-b", stallOrg
	x.q.Submit(x.ctx, x.m2, []byte(body))
}

func (x *stallSuspects) waitRound(t *testing.T) {
	t.Helper()
	select {
	case <-x.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no round of questions after the stall")
	}
}

// A job parked at its start check by a stall's give-back still counts
// as umbra's code on its message until it leaves it (jobLeft): the
// give-back must not look at its attempt before then, or it finds the
// attempt in its session, puts the job back, and after the round the
// job delivers what the shadow server delivered during the stall
// (SR-8; reread22b F1). The hook holds the parked job short of leaving
// until the give-back took the parked jobs — as soon as it may.
func TestStallGivesBackJobParkedBeforeItLeft(t *testing.T) {
	x := newStallSuspects(t, ManagerConfig{}, nil)
	x.submitM2("y@y.example")
	s := x.q.sched
	hook := func(jb *job) {
		if jb.a.m.ID != x.m2.ID {
			return
		}
		waitFor(t, "the give-back's look at the parked jobs, or its wait for this one", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.handing > 0 || !slices.Contains(s.parked, jb)
		})
	}
	s.parkedHook.Store(&hook)
	waitFor(t, "m2 waiting for the turn", func() bool {
		got, _ := x.q.Message(x.m2.ID)
		return got != nil && got.State == Active && !x.q.WaitingForWindow(x.m2.ID)
	})
	x.clk.Advance(6 * time.Minute)
	x.waitRound(t)
	if x.changed != 1 || x.inDel != 0 {
		t.Fatalf("the round changed %d recipients (want 1), %d in delivery (want 0): m2 was not given back", x.changed, x.inDel)
	}
	x.release()
	waitFor(t, "m2 gone", func() bool { got, _ := x.q.Message(x.m2.ID); return got == nil })
	if n := x.o.attempts(x.m2.ID); n != 0 {
		t.Fatalf("m2, finished by hub-b during the stall, was delivered here again (%d attempts)", n)
	}
}

// A suspect about to wait for the turn when the stall is noticed — it
// looked whether the give-back parks jobs just before the give-back
// began — must not wait for the turn regardless: the give-back waits
// for it to reach its check, and the round would come only after the
// give-back's bound (never, on this clock) and find m2 in delivery
// (SR-8; reread22b F2). The turn's bound is longer than the stall here,
// so only the give-back ends the wait.
func TestStallNoticedAsSuspectLooksGivesItBack(t *testing.T) {
	x := newStallSuspects(t, ManagerConfig{SuspectTurn: time.Hour}, nil)
	var m2ID atomic.Uint64
	var once sync.Once
	look := func(a *attempt) {
		if uint64(a.m.ID) != m2ID.Load() {
			return
		}
		once.Do(func() {
			x.clk.Advance(6 * time.Minute) // the stall, noticed here first
			x.q.stallHeld(x.ctx)
		})
	}
	x.q.suspects.looking.Store(&look)
	x.m2 = msg(x.s, "a@example.org", "y@y.example")
	m2ID.Store(uint64(x.m2.ID))
	x.m2.CrashCount = 1
	x.m2.OrgID, x.m2.ShadowServer, x.m2.ShadowID = stallOrg, "hub-b", stallOrg
	x.q.Submit(x.ctx, x.m2, []byte(body))
	x.waitRound(t)
	if x.changed != 1 || x.inDel != 0 {
		t.Fatalf("the round changed %d recipients (want 1), %d in delivery (want 0): m2 was not given back", x.changed, x.inDel)
	}
	x.release()
	waitFor(t, "m2 gone", func() bool { got, _ := x.q.Message(x.m2.ID); return got == nil })
	if n := x.o.attempts(x.m2.ID); n != 0 {
		t.Fatalf("m2, finished by hub-b during the stall, was delivered here again (%d attempts)", n)
	}
}

// An unstarted attempt whose give-back commit fails starts after the
// round as it was: its job without a destination too, which must not
// start before the holders were asked (doc.go, "A stall"; reread22b
// F3). The round waits until m2's job ran or is held for after it.
func TestStallFailedGiveBackJobWithoutDestinationWaitsForRound(t *testing.T) {
	var x *stallSuspects
	x = newStallSuspects(t, ManagerConfig{}, func(x *stallSuspects) bool {
		if x.o.attempts(x.m2.ID) > 0 {
			return true
		}
		s := x.q.sched
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.ContainsFunc(s.afterRound, func(jb *job) bool { return jb.a.m.ID == x.m2.ID })
	})
	x.submitM2("y@local.example")
	waitFor(t, "m2 waiting for the turn", func() bool {
		got, _ := x.q.Message(x.m2.ID)
		return got != nil && got.State == Active
	})
	var failed atomic.Bool
	x.s.setCommitFault(func(tx *Tx) error {
		if m, err := tx.Get(x.m2.ID); err == nil && m.State == Ready && failed.CompareAndSwap(false, true) {
			return errInjected
		}
		return nil
	})
	x.clk.Advance(6 * time.Minute)
	x.waitRound(t)
	if !failed.Load() {
		t.Fatal("m2 was not given back (no give-back commit failed)")
	}
	if x.during != 0 {
		t.Fatalf("m2's job started before the round after its give-back failed (%d deliveries when the holders were asked)", x.during)
	}
	x.release()
	waitFor(t, "m2 delivered after the round, as it was", func() bool { got, _ := x.q.Message(x.m2.ID); return got == nil })
}

// A job handed on before the stall that reaches its start check only
// after the give-back's bound (stallSettle) is not given back: it runs
// as one in its session — but after the round, not while the holders
// are being asked (doc.go, "A stall"; reread22b F3). The hook holds
// m2's job short of its check until the give-back ended.
func TestStallLateJobWaitsForRound(t *testing.T) {
	x := newStallSuspects(t, ManagerConfig{}, func(x *stallSuspects) bool {
		if x.o.attempts(x.m2.ID) > 0 {
			return true
		}
		s := x.q.sched
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.ContainsFunc(s.afterRound, func(jb *job) bool { return jb.a.m.ID == x.m2.ID })
	})
	var m2ID atomic.Uint64
	var once sync.Once
	look := func(a *attempt) {
		if uint64(a.m.ID) != m2ID.Load() {
			return
		}
		once.Do(func() {
			x.clk.Advance(6 * time.Minute) // the stall, noticed here first
			x.q.stallHeld(x.ctx)
			// The give-back waits for this job up to its bound: the
			// clock runs on until it gave up.
			for i := 0; x.q.sched.parking.Load(); i++ {
				if i > 5000 {
					t.Error("the give-back did not end at its bound")
					return
				}
				x.clk.Advance(100 * time.Millisecond)
				time.Sleep(time.Millisecond)
			}
		})
	}
	x.q.suspects.looking.Store(&look)
	x.m2 = msg(x.s, "a@example.org", "y@y.example")
	m2ID.Store(uint64(x.m2.ID))
	x.m2.CrashCount = 1
	x.m2.OrgID, x.m2.ShadowServer, x.m2.ShadowID = stallOrg, "hub-b", stallOrg
	x.q.Submit(x.ctx, x.m2, []byte(body))
	x.waitRound(t)
	if x.during != 0 {
		t.Fatalf("m2's job started while the holders were asked (%d deliveries when the round asked)", x.during)
	}
	x.release()
	waitFor(t, "m2 delivered after the round, as one in its session", func() bool { got, _ := x.q.Message(x.m2.ID); return got == nil })
}
