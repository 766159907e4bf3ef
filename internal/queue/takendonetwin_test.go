package queue

import (
	"context"
	"testing"
	"time"
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
