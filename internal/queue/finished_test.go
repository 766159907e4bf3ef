package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt16a F1, cause 2: a primary that finished a message received in a
// shadow session drops, from a copy of it that comes back after a
// takeover, the recipients it has done — every one when the copy is its
// shadow server's own (same server, same id), only those done for good
// (not handed to another primary) when the copy has the org id alone —
// and owes the sender's copy its discard, full or partial. The records
// go message_expiration plus the grace after the finish.
func TestFinishedRecipientsOfCopyComingBack(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			switch a := m.Rcpts[i].Addr; {
			case strings.HasPrefix(a, "on@"): // handed to another primary
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:c", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25",
					ShadowID: m.ID.String() + "-c", PrimaryDB: "dbc", Reply: "250 queued"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "smarthost:out", Reply: "250 ok", LeftOrg: true}) // out of the organisation, as delivery marks it
			}
		}
		return out
	})
	var logs lockedBuffer
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 24 * time.Hour,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	const org = "00112233445566778899aabbccddeeff"
	submit := func(server, sid string, rcpts ...string) *Message {
		t.Helper()
		m := msg(s, "a@example.org", rcpts...)
		m.OrgID, m.ShadowServer, m.ShadowID, m.Arrived = org, server, sid, clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	settled := func(m *Message) {
		t.Helper()
		waitFor(t, "the attempt", func() bool { got, _ := q.Message(m.ID); return got == nil || got.State == Shadow })
		if err := q.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	owed := func(server string) []string {
		t.Helper()
		var out []string
		_ = s.View(func(tx *Tx) error {
			out = tx.Discards(server, 100)
			for _, p := range tx.PartialDiscards(server, 100) {
				out = append(out, p.Wire())
			}
			return nil
		})
		return out
	}

	orig := submit("hub-a", "a-0001", "out@x.example", "on@y.example")
	settled(orig)
	// hub-c's discard ends the record kept for it: the message is gone.
	if _, err := q.ShadowContact("hub-c", "dbc", []string{orig.ID.String() + "-c"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(orig.ID); got != nil {
		t.Fatalf("the original stays: %s", got.State)
	}
	_ = s.Update(ctx, func(tx *Tx) error { return tx.DeleteDiscards("hub-a", []string{"a-0001"}) }) // hub-a fetched it

	// hub-a's own copy, sent back: nothing of it is delivered again.
	back := submit("hub-a", "a-0001", "out@x.example", "on@y.example")
	if got, _ := q.Message(back.ID); got != nil {
		t.Fatalf("the copy sent back by hub-a was stored: %s %v", got.State, got.Rcpts)
	}
	if o := owed("hub-a"); len(o) != 1 || o[0] != "a-0001" {
		t.Fatalf("owed to hub-a: %v, want the discard of its copy", o)
	}
	// The expected outcome of a copy coming back, one line per
	// recipient: INFO, not WARN (rt40 F2 sibling; tracking has it).
	if w := warnLinesWith(logs.String(), "copy of a message finished here"); len(w) != 0 {
		t.Fatalf("a copy coming back logged at WARN:\n%s", strings.Join(w, "\n"))
	}
	if !strings.Contains(logs.String(), `level=INFO msg="copy of a message finished here`) {
		t.Fatalf("the recipients done already not logged at INFO:\n%s", logs.String())
	}

	// hub-b's copy (org id alone): the recipient relayed out is done,
	// the one handed to hub-c is not (a route back through here), nor a
	// new one.
	other := submit("hub-b", "b-0001", "out@x.example", "on@y.example", "new@x.example")
	got, _ := q.Message(other.ID)
	if got == nil || len(got.Rcpts) != 2 || got.Rcpts[0].Addr != "on@y.example" || got.Rcpts[1].Addr != "new@x.example" {
		t.Fatalf("hub-b's copy: %+v; want on@y.example and new@x.example kept", got)
	}
	if o := owed("hub-b"); len(o) != 1 || !strings.HasPrefix(o[0], "b-0001") || !strings.Contains(o[0], "out@x.example") {
		t.Fatalf("owed to hub-b: %v, want a partial discard of out@x.example", o)
	}
	settled(other)

	// message_expiration and the grace after the finish: forgotten.
	clk.Advance(24*time.Hour + shadowExpiryGrace + time.Minute)
	q.pruneBacklog(clk.Now())
	late := submit("hub-a", "a-0001", "out@x.example")
	if got, _ := q.Message(late.ID); got == nil {
		t.Fatal("a copy after the record's lifetime was dropped: its record outlived message_expiration and the grace")
	}
	_ = s.View(func(tx *Tx) error {
		if n := tx.tx.Bucket(bucketFinishedAt).Stats().KeyN; n > 3 {
			t.Errorf("%d time entries left after the pruning", n)
		}
		return nil
	})
}
