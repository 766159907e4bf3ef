package shadowstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
)

// SR-7, OPS-3 (shadowout48 F1 of an outside check), as shadow list reads
// it: a primary taken over for failed heartbeats that came back with a
// new database and pushed a copy showed, beside the new id, WHY "taken
// over: 2 heartbeats failed; the primary was heard from since" and the
// old database's last contact. The row of the new database names no
// takeover of it and a last contact when it was first heard.
func TestNewDatabaseRowShowsNoTakeoverOfTheOldOne(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := queue.NewManager(s, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
		queue.ManagerConfig{Clock: clk})
	push := func(db string) {
		t.Helper()
		m := &queue.Message{ID: s.NewID(time.Now()), From: "a@example.org", Connector: "test", ClientIP: "127.0.0.1",
			OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@remote.example"}}}
		if stored, err := q.SubmitShadowCopy(context.Background(), m, []byte("Subject: s\r\n\r\nhi\r\n"), "hub-a", "127.0.0.1:25", db); err != nil || !stored {
			t.Fatalf("copy on receipt under %s: %v %v", db, stored, err)
		}
	}
	st := shadowstore.Store{M: &q}
	sm := shadow.New(shadow.Config{Timeout: 5 * time.Second, Retries: 2, CommandTimeout: 10 * time.Second, Clock: clk, Store: st})
	push("dbA")
	for i := 0; i < 2; i++ {
		clk.Advance(5 * time.Second)
		if _, _, err := st.HeartbeatFailed("hub-a", clk.Now(), 0, 2, "connection refused"); err != nil {
			t.Fatal(err)
		}
	}
	if ps := sm.Status(); len(ps) != 1 || !ps[0].TakenOver || ps[0].TakenOverWhy == "" {
		t.Fatalf("after the takeover: %+v", ps)
	}
	clk.Advance(40 * time.Second)
	push("dbA2")
	ps := sm.Status()
	if len(ps) != 1 {
		t.Fatalf("status %+v", ps)
	}
	p := ps[0]
	if p.DatabaseID != "dbA2" || p.TakenOver || p.TakenOverWhy != "" || p.Failures != 0 || p.Unreachable != "" {
		t.Errorf("the new database's row keeps the old one's takeover: %+v", p)
	}
	if !p.LastContact.Equal(clk.Now()) {
		t.Errorf("last contact %v, want the new database's push at %v", p.LastContact, clk.Now())
	}
}
