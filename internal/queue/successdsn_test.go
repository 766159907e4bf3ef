package queue

import (
	"context"
	"testing"
	"time"
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

// A success DSN made beside a failure DSN (one recipient delivered with
// NOTIFY=SUCCESS, another failed in the same commit), or while another
// recipient is still pending, was not marked: the failure DSN, or the
// last recipient, carries the discard, and once that is written the
// success DSN is on this disk alone, unmarked. Every DSN of a message
// that had a shadow copy is marked held by this server only in the commit
// that makes it, save the one that carries the discard.
func TestSuccessDSNBesideFailureIsSingleCopy(t *testing.T) {
	for _, tc := range []struct {
		name string
		last Outcome // the second recipient's outcome at the first attempt
	}{{"failure DSN in the same commit", FailedPerm}, {"other recipient pending", Deferred}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				if m.Connector == "dsn" {
					return nil // the DSN's return path answers nothing: it waits
				}
				var out []Result
				for _, i := range rcpts {
					if i == 0 {
						out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Reply: "250", Database: "DB1"})
					} else {
						out = append(out, Result{Rcpt: i, Outcome: tc.last, Reply: "550 5.1.1 no such user"})
					}
				}
				return out
			}), ManagerConfig{})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m := msg(s, "s@example.org", "r@example.net", "gone@example.net")
			m.Rcpts[0].Notify = NotifySuccess
			m.OrgID = "0123456789abcdef0123456789abcdee"
			m.ShadowServer, m.ShadowID = "hub-a", m.OrgID
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			var success *Message
			waitFor(t, "the success DSN made", func() bool {
				for _, x := range messages(t, s) {
					if x.Connector == "dsn" && x.ShadowServer == "" {
						success = x
					}
				}
				return success != nil
			})
			if _, ok := q.SingleCopyOf(success.ID); !ok {
				t.Fatal("the success DSN is not marked held by this server only")
			}
			for _, x := range messages(t, s) {
				if x.Connector == "dsn" && x.ShadowServer != "" {
					if _, ok := q.SingleCopyOf(x.ID); ok {
						t.Fatal("the failure DSN carrying the discard is marked: the shadow copy covers it")
					}
				}
			}
		})
	}
}

// The sibling in an operator's removal with NDR: the discard of the
// message's copy is written at once, so its DSN is on this disk alone and
// is marked held by this server only in the same commit.
func TestRemovalDSNOfCopiedMessageIsSingleCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	ctx := context.Background()
	m := msg(s, "s@example.org", "r@example.net")
	m.OrgID = "0123456789abcdef0123456789abcded"
	m.ShadowServer, m.ShadowID = "hub-a", m.OrgID
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if err := q.RemoveMessage(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	var dsn *Message
	for _, x := range messages(t, s) {
		if x.Connector == "dsn" {
			dsn = x
		}
	}
	if dsn == nil {
		t.Fatal("no DSN made by the removal")
	}
	if _, ok := q.SingleCopyOf(dsn.ID); !ok {
		t.Fatal("the removal's DSN is not marked held by this server only")
	}
}
