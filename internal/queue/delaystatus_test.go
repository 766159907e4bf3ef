package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3 (sched32): the delay notice made beside a hung first attempt —
// the next hop over TCP accepts the connection and never greets — gives
// the destination its job is for and a status that says what it waits
// on (4.4.1: no answer from host), not "Status: 4.0.0" with no
// destination named: the record's recipient has no queue before its
// first result, but the job knows it.
func TestQ3DelayNoticeOfFirstAttemptNamesItsDestination(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	hung, open := hangingHop(t)
	h := &windowHops{
		smtpHops: &smtpHops{addrs: map[string]string{"hung.test": hung}, done: map[string]int{}},
		max:      map[string]int{"hung.test": 1},
	}
	q := NewManager(s, h, ManagerConfig{MaxActive: 4, Clock: clk, DelayNotification: time.Minute, MessageExpiration: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "c@example.org", "x@hung.test")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session to the next hop that never greets", func() bool { return open.Load() >= 1 })
	var dsn string
	for i := 0; i < 80 && dsn == ""; i++ {
		clk.Advance(5 * time.Second) // the notice at 1m, beside the hung job after its grace
		time.Sleep(20 * time.Millisecond)
		for _, d := range messages(t, s) {
			if d.Connector == "dsn" {
				if b, err := q.Body(d.ID); err == nil && strings.Contains(string(b), "Action: delayed") {
					dsn = string(b)
				}
			}
		}
	}
	if dsn == "" {
		t.Fatal("no delay DSN beside the hung session")
	}
	if line := dsnTextLine(dsn, "x@hung.test"); !strings.Contains(line, "hung.test") || !strings.Contains(strings.TrimPrefix(line, "<x@hung.test>: "), "hung.test") {
		t.Errorf("delay DSN's line %q names no destination; want hung.test\n%s", line, dsn)
	}
	if !strings.Contains(dsn, "Status: 4.4.1") {
		t.Errorf("delay DSN's status is not 4.4.1 (no answer from host):\n%s", dsn)
	}
}
