package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/panicline"
	"umbra/internal/queue/queuetest"
)

// OPS-, Q-5 (rt44 shadow4 F2's sibling): an attempt's ending commit that
// fails on a full disk (a requeue, a hold in a suspended queue, a move
// to the poison queue) strands the message (stranded.go), whose round
// warns once per strandedRetry with the count; the first ERROR of each
// message was one line per message all the same, growing with the
// backlog. Now it is the first of an episode at once, the next at most
// once a minute with suppressed=N (panicline.Gate), and after a quiet
// minute the next failure is logged at once again.
func TestOPSStrandedCommitErrorOncePerEpisode(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t)
	buf := &logBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 48 * time.Hour, Log: log})
	inDelivery := func(n int) []*Message {
		t.Helper()
		var out []*Message
		for range n {
			m := msg(s, "s@example.org", "r@x.example")
			m.Arrived = clk.Now()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			setState(t, s, m.ID, Active) // claimed: in delivery
			got, err := q.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			got.State = Active
			out = append(out, got)
		}
		return out
	}
	lines := func() int {
		n := 0
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "level=ERROR") && (strings.Contains(l, "requeue failed") ||
				strings.Contains(l, "holding a message of a suspended queue failed") || strings.Contains(l, "poison queue failed")) {
				n++
			}
		}
		return n
	}
	ms := inDelivery(9)
	restore := queuetest.BreakWrites(t, s.db.Path()) // the disk fills
	for i, m := range ms {
		switch i % 3 {
		case 0:
			q.requeue(m)
		case 1:
			q.holdSettled(ctx, m)
		default:
			q.poison(m, "crashed the server 2 times")
		}
	}
	if n := lines(); n != 1 {
		t.Fatalf("%d ERROR lines for 9 messages whose ending commit failed, want 1:\n%s", n, buf.String())
	}
	restore() // room again: the round takes them all back
	clk.Advance(strandedRetry + time.Second)
	q.retryStranded()
	if n := strandedCount(q); n != 0 {
		t.Fatalf("%d messages still stranded with room again", n)
	}
	clk.Advance(panicline.Interval) // a quiet minute: the episode ends (seconds later it would not: TestOPSFlappingDiskStrandedErrorPacedAcrossRounds)
	ms = inDelivery(1)
	restore = queuetest.BreakWrites(t, s.db.Path())
	q.requeue(ms[0])
	restore()
	if n := lines(); n != 2 {
		t.Fatalf("%d ERROR lines after a second episode began, want 2:\n%s", n, buf.String())
	}
}

func strandedCount(q *Manager) int {
	q.strandedSet.mu.Lock()
	defer q.strandedSet.mu.Unlock()
	return len(q.strandedSet.ids)
}
