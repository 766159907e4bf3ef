package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt36 F5 (Q-6, OPS-2): a destination whose every message failed in a
// row stays "failing" until its next success — but once its mail is
// gone (removed, redirected, delivered elsewhere) there is no next
// success, and queue destinations and umbra_scheduler_destinations
// kept it "failing (N in a row)" until the one-hour forget. With nothing
// running, waiting or queued for it, it is shown failing with no mail
// left (NoMailLeft) and no next try — neither "idle" beside its failures
// in a row and no success since (what the README promised never), nor a
// retry that no mail waits for — its count of failures kept (new mail
// within the hour goes on counting).
func TestFailingDestinationWithNoMailLeftShownSo(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	h := &hungDotHost{calls: map[string]int{}}
	q := NewManager(s, h, ManagerConfig{MaxActive: 100, Clock: clk, MessageExpiration: 48 * time.Hour,
		RetrySchedule: []time.Duration{time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 2, DeadCoolDown: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "x@example.org", "a@hung.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	dest := func() DestinationInfo {
		for _, d := range q.Destinations() {
			if d.Name == "mx/hung.test" {
				return d
			}
		}
		return DestinationInfo{}
	}
	waitFor(t, "the deferral, the destination failing", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1 && dest().State == "failing"
	})
	if err := q.RemoveMessage(ctx, m.ID, false); err != nil {
		t.Fatal(err)
	}
	if d := dest(); d.State != "failing" || !d.NoMailLeft || !d.NextTry.IsZero() || d.Failures == 0 {
		t.Fatalf("the destination with no mail left: %+v; want failing with no mail left and no next try, its failures still counted", d)
	}
}
