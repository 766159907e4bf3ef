package queue

import (
	"context"
	"testing"
)

// rt36 F3: a message delivered to every recipient kept its shadow copy
// until its NOTIFY=SUCCESS DSN was delivered — with a slow return path up
// to the DSN's expiry — and a takeover meanwhile sent the whole message
// again to every recipient. The commit that makes the message done now
// writes the discard at once when it makes only a success DSN; the DSN is
// a message of its own, marked held by this server only, whose copy the
// re-make pass makes. (A failure DSN still carries the discard: until it
// has left, the shadow copy is the only other trace of the failure.)
func TestSuccessDSNDoesNotHoldTheDiscard(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		if m.Connector == "dsn" {
			return nil // the DSN's return path answers nothing: it waits
		}
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250", Database: "DB1"})
		}
		return out
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "s@example.org", "r@example.net")
	m.Rcpts[0].Notify = NotifySuccess
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.ShadowServer, m.ShadowID = "hub-a", m.OrgID
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsn *Message
	waitFor(t, "the message done and its success DSN made", func() bool {
		got, _ := q.Message(m.ID)
		if got != nil {
			return false
		}
		for _, x := range messages(t, s) {
			if x.Connector == "dsn" {
				dsn = x
			}
		}
		return dsn != nil
	})
	ids, _ := q.Discards("hub-a", 10)
	if len(ids) != 1 || ids[0] != m.OrgID {
		t.Fatalf("discards for the shadow server after the message was done: %v; want its copy's at once", ids)
	}
	if dsn.ShadowServer != "" {
		t.Fatalf("the success DSN carries the discard for %s", dsn.ShadowServer)
	}
	if _, ok := q.SingleCopyOf(dsn.ID); !ok {
		t.Fatal("the success DSN is not marked held by this server only")
	}
}
