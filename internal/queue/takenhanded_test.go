package queue

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt26a (SR-6, SR-7): a copy taken over from hub-a (database dbA) whose
// recipients this server hands to hub-c, another transport server, in a
// shadow session (kept here for hub-c until its discard): no note while
// hub-c still holds them — hub-c's discard (even one that arrives while
// the attempt that handed the copy on is still committing), partial or whole, or kept
// aside while the record was in delivery, settles them here and, in the
// same commit, notes them for hub-a as relayed, under its database id
// and the copy's id there. A recipient handed to hub-a itself is not
// noted (its original merged the copy and still owes the recipient).
func TestTakenCopyHandedOnNotedOnDiscard(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	rcpts := []string{"h1@x.example", "h2@x.example", "h3@x.example", "a@x.example", "p@x.example"}
	sS := openTest(t)
	var on atomic.Bool
	var qS *Manager
	dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if !on.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 down"})
				continue
			}
			sid := m.ID.String() + "-1"
			switch l := strings.SplitN(m.Rcpts[i].Addr, "@", 2)[0]; {
			case l == "k":
				// hub-c delivers it and its discard arrives before this
				// attempt's commit: kept aside, applied by that commit.
				if _, err := qS.ApplyDiscards("hub-c", []string{sid}); err != nil {
					t.Error(err)
				}
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: sid, Reply: "250 ok"})
			case strings.HasPrefix(l, "h"):
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: sid, Reply: "250 ok"})
			case l == "a":
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-a", PrimaryAddr: "127.0.0.1:25", ShadowID: sid + "a", Reply: "250 ok"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 later"})
			}
		}
		return out
	})
	qS = NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	c := msg(sS, "s@example.org", rcpts...)
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	const org2 = "fedcba9876543210fedcba9876543210"
	k := msg(sS, "s@example.org", "k@x.example")
	k.OrgID, k.Arrived = org2, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, k, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("second copy on receipt: %v, %v", stored, err)
	}
	sid := c.ID.String() + "-1"
	for i := 0; i < 3; i++ {
		if _, _, err := qS.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	on.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); qS.Wait() }()
	qS.Start(runCtx)
	waitFor(t, "the taken-over copies handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		_, err := qS.Message(k.ID)
		return got != nil && got.Attempts >= 1 && len(got.Pending()) == 1 && err != nil
	})
	notes := func() map[string]TakenDone {
		ns, _ := qS.TakenDoneFor("dbA", 10)
		out := map[string]TakenDone{}
		for _, n := range ns {
			if n.Addr == "k@x.example" {
				if n != (TakenDone{ID: org2, Addr: "k@x.example", Kind: TakenRelayed}) {
					t.Errorf("note of k@: %+v", n)
				}
				continue
			}
			out[n.Addr] = n
		}
		return out
	}
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 1 || ns[0].Addr != "k@x.example" {
		t.Fatalf("notes after the copy of k@ was handed to hub-c and its discard applied by that commit: %+v, want k@ relayed", ns)
	}
	if n := notes(); len(n) != 0 {
		t.Fatalf("notes while hub-c still holds the copy: %+v", n)
	}
	// hub-c delivered h1: its partial discard.
	if _, err := qS.ApplyDiscards("hub-c", []string{PartialDiscard{ID: sid, Addr: "h1@x.example"}.Wire()}); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 1 || n["h1@x.example"] != (TakenDone{ID: org, Addr: "h1@x.example", Kind: TakenRelayed}) {
		t.Fatalf("notes after hub-c's partial discard of h1: %+v", n)
	}
	// hub-c's whole discard, while the record is in delivery here: kept
	// aside, applied as the record leaves delivery.
	setState(t, sS, c.ID, Active)
	if _, err := qS.ApplyDiscards("hub-c", []string{sid}); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 1 {
		t.Fatalf("notes while the discard is kept aside: %+v", n)
	}
	if err := sS.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(c.ID)
		if err != nil {
			return err
		}
		m.State = Ready
		return putLeaving(tx, m)
	}); err != nil {
		t.Fatal(err)
	}
	n := notes()
	if len(n) != 3 || n["h2@x.example"].Kind != TakenRelayed || n["h3@x.example"].Kind != TakenRelayed || n["h2@x.example"].ID != org {
		t.Fatalf("notes after hub-c's discard: %+v, want h1, h2, h3 relayed", n)
	}
	// Handed to hub-a itself: its own discard notes nothing.
	if _, err := qS.ApplyDiscards("hub-a", []string{sid + "a"}); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 3 {
		t.Fatalf("notes after hub-a's own discard: %+v", n)
	}
	if err := sS.View(func(tx *Tx) error {
		if k, _ := tx.tx.Bucket(bucketTakenHanded).Cursor().First(); k != nil {
			t.Errorf("a handed note stays after the discards: %q", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// rt26a, the chain (SR-6, SR-7): a copy taken over from hub-a and handed
// to hub-c; hub-c fails its heartbeats in turn, this server takes the
// copy over again and delivers it itself: the note goes to hub-a, whose
// original still waits, as well as to hub-c's database (when hub-c's
// takeover names one), and the handed note is forgotten.
func TestTakenCopyTakenBackFromHandedServerNotedForFirstPrimary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	qS, sS, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, func(m *Message, i int) Result {
		if m.Rcpts[i].Primary == "hub-a" {
			return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
		}
		return Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:DB1", Reply: "250 ok"}
	}, "r@x.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].Primary == "hub-c"
	})
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 0 {
		t.Fatalf("notes while hub-c holds the copy: %+v", ns)
	}
	heartbeatsFail(t, qS, clk, "hub-c")
	waitFor(t, "the copy taken back from hub-c and delivered here", func() bool {
		_, err := qS.Message(c.ID)
		return err != nil
	})
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 1 || ns[0] != (TakenDone{ID: org, Addr: "r@x.example", Kind: TakenDelivered}) {
		t.Fatalf("notes for hub-a: %+v, want r@ delivered", ns)
	}
	if err := sS.View(func(tx *Tx) error {
		if k, _ := tx.tx.Bucket(bucketTakenHanded).Cursor().First(); k != nil {
			t.Errorf("a handed note stays: %q", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// rt26a, no loss (SR-6, SR-7): hub-a took hub-b's copy over and handed it
// to hub-c, which handed it on to hub-b (back meanwhile) in a shadow
// session: hub-b merged it into its original, which now carries hub-c's
// copy and owes the recipient (carried.go). hub-c's hand-on wrote its
// discard of hub-a's copy, so hub-a notes the recipient as relayed; that
// note must not settle the merged recipient at hub-b (hub-c keeps only
// its copy for hub-b: the message would be lost). A recipient not
// merged is settled as before.
func TestTakenDoneNoteSparesRecipientMergedFromHandedCopy(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "b@x.example", "c@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-a", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNew(o, []byte(body)); err != nil {
			return err
		}
		return tx.carryCopy(o.ID, "hub-c", "1234-1", "b@x.example", "b@x.example")
	}); err != nil {
		t.Fatal(err)
	}
	notes := []TakenDone{{ID: org, Addr: "b@x.example", Kind: TakenRelayed}, {ID: org, Addr: "c@x.example", Kind: TakenRelayed}}
	fe, _, err := qP.ShadowFinishedElsewhere("hub-a", notes)
	if err != nil || len(fe) != 1 {
		t.Fatalf("finished elsewhere: %d (%v), want 1 (c@ only)", len(fe), err)
	}
	m, err := qP.Message(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcpts[0].Status != Pending || m.Rcpts[1].Status != Relayed {
		t.Fatalf("statuses %s %s, want b@ pending (merged from hub-c's copy), c@ relayed", m.Rcpts[0].Status, m.Rcpts[1].Status)
	}
}

// rt26a, the longer chain (SR-6, SR-7): taken over from hub-a, handed to
// hub-c, taken back from hub-c (its heartbeats failed), handed on to
// hub-d: hub-d's discard notes the recipient for hub-a, whose original
// still waits.
func TestTakenCopyHandedOnAgainNotedForFirstPrimary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, func(m *Message, i int) Result {
		if m.Rcpts[i].Primary == "hub-a" {
			return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
		}
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-d", PrimaryAddr: "127.0.0.4:25", ShadowID: m.ID.String() + "-2", Reply: "250 ok"}
	}, "r@x.example")
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].Primary == "hub-c"
	})
	heartbeatsFail(t, qS, clk, "hub-c")
	waitFor(t, "the copy taken back from hub-c and handed to hub-d", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.Rcpts[0].Status == Shadowed && got.Rcpts[0].Primary == "hub-d"
	})
	if ns, _ := qS.TakenDoneFor("dbA", 10); len(ns) != 0 {
		t.Fatalf("notes while hub-d holds the copy: %+v", ns)
	}
	if _, err := qS.ApplyDiscards("hub-d", []string{c.ID.String() + "-2"}); err != nil {
		t.Fatal(err)
	}
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 1 || ns[0] != (TakenDone{ID: org, Addr: "r@x.example", Kind: TakenRelayed}) {
		t.Fatalf("notes for hub-a after hub-d's discard: %+v, want r@ relayed", ns)
	}
}
