package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt18b F4: a copy on receipt held here for hub-a is merged into the
// original hub-a then relays here in a shadow session, in the commit
// that stores the original — for the recipients the original carries,
// and only when the relaying server is the copy's primary.
func TestReceiptCopyMergedIntoRelayedOriginal(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, rcpts ...string) (*Manager, *Store, *Message) {
		s := openTest(t)
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
		c := receiptCopy(s, rcpts...)
		if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		return q, s, c
	}
	relay := func(t *testing.T, q *Manager, s *Store, c *Message, from string, rcpts ...string) *Message {
		m := msg(s, "a@example.org", rcpts...)
		m.OrgID, m.ShadowServer, m.ShadowID = c.OrgID, from, "0000000000000001-relay"
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("whole", func(t *testing.T) {
		q, s, c := setup(t, "x@b.example", "y@b.example")
		m := relay(t, q, s, c, "hub-a", "x@b.example", "y@b.example")
		if _, err := q.Message(c.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the copy on receipt outlived the relayed original: %v", err)
		}
		if got, err := q.Message(m.ID); err != nil || len(got.Pending()) != 2 {
			t.Fatalf("the relayed original: %+v, %v", got, err)
		}
	})
	t.Run("the recipients the original carries", func(t *testing.T) {
		q, s, c := setup(t, "x@b.example", "y@c.example")
		relay(t, q, s, c, "hub-a", "x@b.example")
		got, err := q.Message(c.ID)
		if err != nil {
			t.Fatalf("the copy went whole: %v", err)
		}
		for _, r := range got.Rcpts {
			if want := r.Addr == "y@c.example"; (r.Status == Shadowed) != want {
				t.Fatalf("%s: %v", r.Addr, r.Status)
			}
		}
	})
	t.Run("relayed by another server", func(t *testing.T) {
		q, s, c := setup(t, "x@b.example")
		relay(t, q, s, c, "hub-c", "x@b.example")
		if got, err := q.Message(c.ID); err != nil || got.Rcpts[0].Status != Shadowed {
			t.Fatalf("hub-a's copy settled by hub-c's relay: %+v, %v", got, err)
		}
	})
}

// rt18b F4, the other order: the relay of the message reaches this hub
// before the sender's copy on receipt does (the sender hands the message
// on as soon as its own commit is made). The commit storing the copy
// settles it against the original the same sender relayed here.
func TestReceiptCopyArrivingAfterRelayedOriginalMerged(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, from string, rcpts ...string) (*Manager, *Message, *Message) {
		s := openTest(t)
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
		c := receiptCopy(s, rcpts...)
		m := msg(s, "a@example.org", "x@b.example")
		m.OrgID, m.ShadowServer, m.ShadowID = c.OrgID, from, "0000000000000001-relay"
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
			t.Fatal(err)
		}
		return q, c, m
	}
	t.Run("whole", func(t *testing.T) {
		q, c, m := setup(t, "hub-a", "x@b.example")
		if _, err := q.Message(c.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the copy on receipt arriving after the relayed original was kept: %v", err)
		}
		if got, err := q.Message(m.ID); err != nil || len(got.Pending()) != 1 {
			t.Fatalf("the relayed original: %+v, %v", got, err)
		}
	})
	t.Run("a recipient the original does not carry", func(t *testing.T) {
		q, c, _ := setup(t, "hub-a", "x@b.example", "y@c.example")
		got, err := q.Message(c.ID)
		if err != nil {
			t.Fatalf("the copy went whole: %v", err)
		}
		for _, r := range got.Rcpts {
			if want := r.Addr == "y@c.example"; (r.Status == Shadowed) != want {
				t.Fatalf("%s: %v", r.Addr, r.Status)
			}
		}
	})
	t.Run("relayed by another server", func(t *testing.T) {
		q, c, _ := setup(t, "hub-c", "x@b.example")
		if got, err := q.Message(c.ID); err != nil || got.Rcpts[0].Status != Shadowed {
			t.Fatalf("hub-a's copy settled by hub-c's relay: %+v, %v", got, err)
		}
	})
}

// rt36 SR-17: the names of the copy's primary and of the relaying server
// are one server's in any spelling (letter case, a final dot). The copy
// on receipt is kept under the primary's folded name (serverKey), the
// relayed original names its sender as the session stated it; the merge
// compared the two exactly, so a hub named hubA.test in the topology
// kept both records and delivered the message twice after a takeover.
func TestReceiptCopyMergedAcrossNameSpellings(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) (*Manager, *Store) {
		s := openTest(t)
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		return NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk}), s
	}
	for _, tc := range []struct{ copyFor, relayedBy string }{
		{"hubA.test", "hubA.test"},
		{"hubA.test", "huba.test"},
		{"huba.test", "HUBA.test."},
	} {
		t.Run("copy first "+tc.copyFor+" "+tc.relayedBy, func(t *testing.T) {
			q, s := open(t)
			c := receiptCopy(s, "x@b.example")
			if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), tc.copyFor, "127.0.0.1:25", "dbA"); err != nil {
				t.Fatal(err)
			}
			m := msg(s, "a@example.org", "x@b.example")
			m.OrgID, m.ShadowServer, m.ShadowID = c.OrgID, tc.relayedBy, "0000000000000001-relay"
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if got, err := q.Message(c.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the copy on receipt for %s outlived the original %s relayed: %+v, %v", tc.copyFor, tc.relayedBy, got, err)
			}
		})
		t.Run("relay first "+tc.copyFor+" "+tc.relayedBy, func(t *testing.T) {
			q, s := open(t)
			c := receiptCopy(s, "x@b.example")
			m := msg(s, "a@example.org", "x@b.example")
			m.OrgID, m.ShadowServer, m.ShadowID = c.OrgID, tc.relayedBy, "0000000000000001-relay"
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), tc.copyFor, "127.0.0.1:25", "dbA"); err != nil {
				t.Fatal(err)
			}
			if got, err := q.Message(c.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the copy on receipt for %s arriving after the original %s relayed was kept: %+v, %v", tc.copyFor, tc.relayedBy, got, err)
			}
		})
	}
}
