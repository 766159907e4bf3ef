package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A recipient handed to another primary whose local part has upper case
// ("On@y.example") is recorded finished under its exact key with the
// exact flag: the same copy coming back from its shadow server delivers
// it no second time (rt16a F1 with the local part as written).
func TestFinishedHandedOnUpperCaseNotTwice(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:c", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25",
				ShadowID: m.ID.String() + "-c", PrimaryDB: "dbc", Reply: "250 queued"})
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 24 * time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	const org = "00112233445566778899aabbccddee00"
	for _, rcpts := range [][]string{{"On@y.example"}, {"Tw@y.example", "tw@y.example"}} {
		sid := "a-" + strings.ToLower(rcpts[0])
		submit := func() *Message {
			t.Helper()
			m := msg(s, "a@example.org", rcpts...)
			m.OrgID, m.ShadowServer, m.ShadowID, m.Arrived = org+sid[2:4], "hub-a", sid, clk.Now()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			return m
		}
		orig := submit()
		waitFor(t, "the attempt", func() bool { got, _ := q.Message(orig.ID); return got == nil || got.State == Shadow })
		if err := q.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := q.ShadowContact("hub-c", "dbc", []string{orig.ID.String() + "-c"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := q.Message(orig.ID); got != nil {
			t.Fatalf("%v: the original stays: %s", rcpts, got.State)
		}
		back := submit()
		if got, _ := q.Message(back.ID); got != nil {
			t.Fatalf("%v: the same copy coming back was stored again: %v", rcpts, got.Rcpts)
		}
	}
}
