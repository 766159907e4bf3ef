package queue

import (
	"testing"
	"time"

	"umbra/internal/clock"
)

// SPEC: a panic while the delay notice beside a hung job is
// built (commitNotice's own section: a.own taken, the slot running) is
// recovered (recoverLogged, part notice) — but leaveOwn was never
// deferred: the attempt's own count stays up after its end, so its
// peerwait slot stays "running" (a later crash counts against the
// message though nothing of it runs) and a suspect's turn is never given
// back (markPhase releases it only at own == 0).
func TestQ5PanicBuildingNoticeLeavesOwnSection(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangsFrom{gate: make(chan struct{}), hang: true}
	pc := &panicCount{}
	q, m := startHanging(t, s, h, clk, t0, ManagerConfig{Panics: pc, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 24 * time.Hour, DelayNotification: 5 * time.Second}, func(q *Manager) { panicOnce(q, panicNoticeDSN) })
	waitFor(t, "the first attempt hanging", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.calls == 1 })
	v, ok := q.inDelivery.Load(m.ID)
	if !ok {
		t.Fatal("no attempt in delivery")
	}
	a := v.(*attempt)
	clk.Advance(5 * time.Minute) // the notice's timer fires while the job hangs
	waitFor(t, "the recovered panic of the notice's build", func() bool {
		// the hook's panic is recovered by recoverLogged under PanicNotice
		return pc.of(PanicNotice) == 1
	})
	h.open()
	waitFor(t, "the message waiting for its retry", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready
	})
	waitFor(t, "the attempt's end returned", func() bool { _, in := q.inDelivery.Load(m.ID); return !in })
	a.mu.Lock()
	own, phase, slot := a.own, a.phase, a.slot
	a.mu.Unlock()
	if own != 0 || phase != 0 {
		t.Fatalf("after the attempt's end: own=%d phase=%q slot=%d — its own section, entered by the notice's build, never left (want own=0, no phase, the slot freed)", own, phase, slot)
	}
}
