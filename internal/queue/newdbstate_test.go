package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, SR-13 (shadowout48 F1 of an outside check): a primary's state —
// its failed heartbeats, its takeover and the count that made it, its
// last contact — is the state of the database it describes. A primary
// taken over for failed heartbeats that came back with a new (wiped)
// database kept the old database's takeover, count and last contact
// beside the new id: shadow list said "taken over: 2 heartbeats failed;
// the primary was heard from since" and a last contact of the old
// database for a new database that had just pushed its first copy. A new
// database id starts its record afresh, whichever way it is presented:
// a copy it pushes, or the XSHADOW reply of a session.
func TestSR7NewDatabaseStartsThePrimarysStateAfresh(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present func(q *Manager, s *Store) error
	}{
		{"copy pushed", func(q *Manager, s *Store) error {
			_, err := q.SubmitShadowCopy(context.Background(), receiptCopy(s, "n@remote.example"), []byte(body), "hub-a", "127.0.0.1:25", "dbA2")
			return err
		}},
		{"XSHADOW reply of a session", func(q *Manager, _ *Store) error {
			_, err := q.ShadowPresented("hub-a", "dbA2", nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			s := openTest(t)
			q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			c := receiptCopy(s, "x@remote.example")
			if stored, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
				t.Fatalf("copy on receipt: %v, %v", stored, err)
			}
			for i := 1; i <= 2; i++ {
				clk.Advance(5 * time.Second)
				if _, _, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 2, "connection refused"); err != nil {
					t.Fatalf("failed heartbeat %d: %v", i, err)
				}
			}
			peers, err := q.ShadowPeers()
			if err != nil || len(peers) != 1 || !peers[0].TakenOver || peers[0].TakeoverFailures != 2 {
				t.Fatalf("after 2 failed heartbeats: %+v %v", peers, err)
			}
			clk.Advance(40 * time.Second)
			if err := tc.present(q, s); err != nil {
				t.Fatal(err)
			}
			peers, err = q.ShadowPeers()
			if err != nil || len(peers) != 1 {
				t.Fatalf("peers %+v %v", peers, err)
			}
			p := peers[0]
			if p.DatabaseID != "dbA2" {
				t.Fatalf("database id %q, want dbA2", p.DatabaseID)
			}
			if p.TakenOver || p.TakeoverFailures != 0 || p.Failures != 0 || !p.LastTry.IsZero() {
				t.Errorf("the new database's record keeps the old one's takeover: taken over %v by %d failures, failures %d, last try %v",
					p.TakenOver, p.TakeoverFailures, p.Failures, p.LastTry)
			}
			if !p.LastContact.Equal(clk.Now()) {
				t.Errorf("last contact %v is the old database's; the new one was first heard at %v", p.LastContact, clk.Now())
			}
		})
	}
}
