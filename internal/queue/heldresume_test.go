package queue

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// heldNow reads the suspension in memory when finish
// begins, but the results are committed later (set aside for
// result_commit_delay, here the whole window the hook stands for). A
// queue resume in between finds the message in delivery and leaves it
// ("its attempt writes its own reply"); the commit then writes the hold
// as the last reply of a recipient whose queue is no longer suspended.
// message show says it is held in a queue that is not suspended, nothing
// clears it (no resume is left to end it), and the expiry's failure DSN
// says the administrator holds the message — where before heldNow it
// quoted the host's greeting timeout the attempt got.
func TestQ3ResumeBeforeResultsCommitLeavesNoStaleHold(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	h := &hangingHost{dsnCatcher: &dsnCatcher{planned: newPlanned()}, gate: make(chan struct{}), entered: make(chan struct{})}
	q := NewManager(s, h, ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{5 * time.Minute}, MessageExpiration: 60 * time.Second,
		Inside: Inside{SenderDomains: senders(true)}})
	h.suspended = q.IsSuspended
	ctx, cancel := context.WithCancel(context.Background())
	var open sync.Once
	release := func() { open.Do(func() { close(h.gate) }) }
	defer func() { release(); close(h.stop); cancel(); q.Wait() }()
	m := msg(s, "a@example.org", "x@down.test")
	m.Arrived = t0
	var once sync.Once
	hook := func(dm *Message) {
		if dm.ID == m.ID {
			once.Do(func() {
				if _, err := q.ResumeQueue(ctx, "mx:down.test"); err != nil {
					t.Errorf("resume: %v", err)
				}
			})
		}
	}
	q.deferHook.Store(&hook)
	q.Start(ctx)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt did not reach the host")
	}
	if err := q.SuspendQueue(ctx, "mx:down.test"); err != nil {
		t.Fatal(err)
	}
	release()
	waitFor(t, "the attempt's end", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	if q.IsSuspended("mx:down.test") {
		t.Fatal("the resume did not run")
	}
	got, _ := q.Message(m.ID)
	if r := got.Rcpts[0].LastReply; heldBy(r) != "" {
		t.Errorf("after the resume, message show says %q: held in a queue that is not suspended", r)
	}
	clk.Advance(60 * time.Second) // the expiry
	waitFor(t, "the failure DSN", func() bool { return len(h.dsns()) >= 1 })
	if d := h.dsns()[0]; strings.Contains(d, "suspended by the administrator") {
		i := strings.Index(d, "Final-Recipient")
		t.Errorf("the failure DSN of a message whose queue was resumed says it is held:\n%s", d[i:min(len(d), i+400)])
	}
}
