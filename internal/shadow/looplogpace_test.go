package shadow

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"umbra/internal/clock"
)

// listFailing is a store whose listing of primaries fails.
type listFailing struct{ *fakeStore }

func (listFailing) Primaries() ([]Primary, error) {
	return nil, errors.New("read queue.db: input/output error")
}

// SR-6, OPS- (stall41, siblings of item 1): the shadow manager's step
// comes every second at the shortest heartbeat timeout; a store that
// fails to list the primaries wrote an ERROR at every step — 60 lines a
// minute for one fault. It is paced (panicline.Gate.Due): one line a
// minute, the next saying how many were left out.
func TestStepListingFailureLoggedOncePerMinute(t *testing.T) {
	clk := clock.NewFake(t0)
	st := &fakeStore{clk: clk, ps: map[string]*Primary{}, copies: map[string]bool{}, discarded: map[string][]string{}}
	buf := &syncBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := New(Config{Timeout: time.Second, Retries: 1, Clock: clk, Store: listFailing{st}, Heartbeater: &fakeHB{calls: map[string]int{}, hang: map[string]bool{}}, Log: log})
	for range 30 {
		m.Step(context.Background())
		clk.Advance(time.Second)
	}
	if n := buf.count("listing shadow primaries failed"); n != 1 {
		t.Fatalf("%d ERROR lines in 30 steps of one store failure, want 1:\n%s", n, buf.b.String())
	}
	clk.Advance(time.Minute)
	m.Step(context.Background())
	if n := buf.count("listing shadow primaries failed"); n != 2 || buf.count("suppressed=29") != 1 {
		t.Fatalf("after a minute: %d lines, want 2, the second saying 29 were left out:\n%s", n, buf.b.String())
	}
}

// SR-7 (stall41, siblings of item 2): a heartbeat ended by a fault of
// this server's own (a panic here) is WARNed as a refusal is — once a
// minute per primary — not at every heartbeat: at the shortest timeout
// (1 s) a fault that lasts wrote a line a second.
func TestHeartbeatLocalFaultWarnedOncePerMinute(t *testing.T) {
	m, _, hb, clk := setup()
	buf := &syncBuf{}
	m.cfg.Log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m.SetTiming(Timing{Timeout: time.Second, Retries: 1, CommandTimeout: time.Second})
	hb.mu.Lock()
	hb.err = localFaultErr{}
	hb.mu.Unlock()
	step(t, m, hb, clk, 30*time.Second)
	if hb.n("hub-b") < 5 {
		t.Fatalf("%d heartbeats in 30 s at a 1 s timeout: the test made too few to tell", hb.n("hub-b"))
	}
	if n := buf.count("heartbeat ended by a fault of this server's"); n != 1 {
		t.Fatalf("%d WARN lines for %d heartbeats ended by one fault of this server's in 30 s, want 1:\n%s", n, hb.n("hub-b"), buf.b.String())
	}
}

// holdersListFailing is a holder store whose listings fail.
type holdersListFailing struct{}

func (holdersListFailing) Holders() (map[string]int, error) {
	return nil, errors.New("read queue.db: input/output error")
}
func (holdersListFailing) SingleCopies() ([]uint64, error) {
	return nil, errors.New("read queue.db: input/output error")
}

// SR-6 (stall41, siblings of item 1): the holders' pass comes every
// heartbeat timeout, a second at the shortest; a store that fails to
// list the holders wrote an ERROR at every pass. Paced as the step's
// (panicline.Gate.Due).
func TestHoldersListingFailureLoggedOncePerMinute(t *testing.T) {
	clk := clock.NewFake(t0)
	buf := &syncBuf{}
	h := NewHolders(HoldersConfig{Store: holdersListFailing{}, Copier: &fakeCopier{store: &fakeHolderStore{}}, Clock: clk,
		Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	for range 30 {
		h.Pass(context.Background())
		clk.Advance(time.Second)
	}
	if n := buf.count("listing the shadow servers of queued messages failed"); n != 1 {
		t.Fatalf("%d ERROR lines in 30 passes of one store failure, want 1:\n%s", n, buf.b.String())
	}
	clk.Advance(time.Minute)
	h.Pass(context.Background())
	if n := buf.count("listing the shadow servers of queued messages failed"); n != 2 || buf.count("suppressed=29") != 1 {
		t.Fatalf("after a minute: %d lines, want 2, the second saying 29 were left out:\n%s", n, buf.b.String())
	}
}
