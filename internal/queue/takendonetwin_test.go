package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rcptmatch.go: "TD@relay.test" and "td@relay.test" of a relayed domain
// are two mailboxes (RFC 5321 §2.4). The primary finished TD@ itself
// and stopped before the shadow server fetched the partial discard; the
// shadow server took the copy over with both, delivered TD@ and noted
// it. The note names TD@, done here already: it settles nothing, and
// td@ — its case twin, still pending — stays this server's to deliver
// (marked done, the original would be removed and its full discard
// would settle the copy of td@ taken over there: delivered nowhere).
// A record in delivery is not counted as one the note would change.
func TestTakenDoneNoteSparesTheCaseTwin(t *testing.T) {
	ctx := context.Background()
	const org = "0123456789abcdef0123456789abcdef"
	for _, active := range []bool{false, true} {
		q, s, clk := idleManager(t)
		o := msg(s, "s@example.org", "TD@relay.test", "td@relay.test")
		o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
		o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
		o.Rcpts[0].Status, o.Rcpts[0].LastReply = Relayed, "250 ok"
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		if active {
			setState(t, s, o.ID, Active)
		}
		notes := []TakenDone{{ID: org, Addr: "TD@relay.test", Kind: TakenDelivered}}
		fe, busy, err := q.ShadowFinishedElsewhere("hub-b", notes)
		if err != nil || len(fe) != 0 || busy != 0 {
			t.Fatalf("in delivery %v: a note for TD@ changed %d recipients, %d in delivery (%v); want none", active, len(fe), busy, err)
		}
		m, err := q.Message(o.ID)
		if err != nil {
			t.Fatalf("in delivery %v: the original is gone: %v", active, err)
		}
		if m.Rcpts[1].Status != Pending {
			t.Fatalf("in delivery %v: td@ %s (%s), want pending", active, m.Rcpts[1].Status, m.Rcpts[1].LastReply)
		}
		if ids, _ := q.Discards("hub-b", 10); len(ids) != 0 {
			t.Fatalf("in delivery %v: discards owed to hub-b %q, want none", active, ids)
		}
		if active {
			continue
		}
		// The note naming td@ as written settles it.
		notes = []TakenDone{{ID: org, Addr: "td@relay.test", Kind: TakenDelivered}}
		if fe, _, err := q.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 1 || fe[0].Rcpt != 1 {
			t.Fatalf("a note for td@: %+v (%v), want td@ settled", fe, err)
		}
	}
}

// The failure DSN of a message relayed here by hub-b (its shadow id a
// relay id, "<id>-<hash>-<rand>") carries that copy's discard (doc.go,
// "DSNs and shadow copies"). hub-b took the copy over while this server
// was away, delivered the sender — also a recipient — and noted it. The
// note names the relay id and the sender's address, as the DSN's
// record does: it is another message all the same, and stays (marked
// done, it would be removed and its discard would settle hub-b's
// taken-over copy of the failed recipient: bounced from neither).
func TestTakenDoneSparesDSNCarryingARelayCopy(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	const relayID = "00000000000000a1-1b2c3d4e-0123456789ab"
	s := openTest(t)
	d := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			switch {
			case m.Connector == "dsn":
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:example.org", Reply: "451 4.4.1 later"})
			case m.Rcpts[i].Addr == "f@x.example":
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Queue: "mx:x.example", Reply: "550 5.1.1 no such user"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.org", Reply: "250 ok"})
			}
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); q.Wait() }()
	q.Start(runCtx)
	o := msg(s, "s@example.org", "s@example.org", "f@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", relayID, clk.Now()
	o.Connector, o.ClientIP = "hub", "127.0.0.2"
	if err := q.Submit(ctx, o, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsn *Message
	waitFor(t, "the failure DSN's first attempt", func() bool {
		ms, _ := q.Messages(MessageFilter{})
		for _, m := range ms {
			if m.ID != o.ID && m.Attempts >= 1 && m.State != Active {
				dsn = m
			}
		}
		return dsn != nil
	})
	if _, err := q.Message(o.ID); err == nil {
		t.Fatal("fixture: the original stays after its last recipient")
	}
	if dsn.ShadowServer != "hub-b" || dsn.ShadowID != relayID || dsn.Rcpts[0].Addr != "s@example.org" {
		t.Fatalf("fixture: the DSN carries %s %s to %s, want hub-b's copy %s to the sender", dsn.ShadowServer, dsn.ShadowID, dsn.Rcpts[0].Addr, relayID)
	}
	notes := []TakenDone{{ID: relayID, Addr: "s@example.org", Kind: TakenDelivered}}
	fe, busy, err := q.ShadowFinishedElsewhere("hub-b", notes)
	if err != nil || len(fe) != 0 || busy != 0 {
		t.Fatalf("finished elsewhere: %d changed, %d in delivery (%v); want the DSN left alone", len(fe), busy, err)
	}
	if m, err := q.Message(dsn.ID); err != nil || len(m.Pending()) != 1 {
		t.Fatalf("the DSN: %+v, %v; want it pending", m, err)
	}
	if ids, _ := q.Discards("hub-b", 10); len(ids) != 0 {
		t.Fatalf("discards owed to hub-b %q, want none before the DSN leaves", ids)
	}
}

// A DSN of this server's whose own copy was made (held by this server
// only, then pushed: its shadow id its own org id) is that copy's
// original: a note for that copy settles it as any other's.
func TestTakenDoneSettlesDSNsOwnCopy(t *testing.T) {
	ctx := context.Background()
	q, s, clk := idleManager(t)
	dsn := msg(s, "", "s@example.org")
	dsn.Connector, dsn.Internal, dsn.ClientIP = "dsn", true, ""
	dsn.OrgID = "fedcba9876543210fedcba9876543210"
	dsn.ShadowServer, dsn.ShadowID, dsn.Arrived = "hub-b", dsn.OrgID, clk.Now()
	dsn.State, dsn.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(dsn, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if !dsn.OwnDSN() {
		t.Fatal("fixture: not a DSN of this server's")
	}
	notes := []TakenDone{{ID: dsn.OrgID, Addr: "s@example.org", Kind: TakenDelivered}}
	if fe, _, err := q.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 1 {
		t.Fatalf("finished elsewhere: %d, %v; want the DSN's own copy settled", len(fe), err)
	}
	if _, err := q.Message(dsn.ID); err == nil {
		t.Fatal("the DSN stays with its one recipient delivered by hub-b")
	}
}
