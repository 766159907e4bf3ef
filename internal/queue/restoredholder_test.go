package queue

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/clock"
)

// SR-6, SR-7 after `umbra db restore` of a HOLDER (mixed38 defect 2):
// this server relayed x to hub-a and keeps the copy (the state its
// backup holds). After the backup, hub-a died; this server's predecessor
// database took x over and handed it to hub-c in a shadow session (copy
// "<id>-<hash of hub-c>-<random>"). The backup is restored: hub-c, met
// with the new database id, takes over the copies of the predecessor's
// mail (SR-7) and tells this server so when asked (XQUERYTAKENDONE …
// FROM=<old id>: "<id> RCPT=x TAKEN"). The copy for hub-a is held here
// again; hub-a's heartbeats fail and this server takes x over a second
// time and delivers it: x goes out twice, from hub-c and from here. The
// note must settle the copy held here — the predecessor took it over,
// and hub-c owns it now — so that nothing is taken over again.
func TestSR6RestoredHolderLeavesCopyItsPredecessorHandedOn(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var delivered atomic.Int32
	var relayed atomic.Bool
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			if !relayed.Swap(true) {
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-a", PrimaryAddr: "127.0.0.121:7501",
					ShadowID: m.ID.String() + "-" + primaryHash("hub-a") + "-000000000001", PrimaryDB: "dbA", Reply: "250 queued"})
				continue
			}
			delivered.Add(1)
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:remote.example", Reply: "250 ok"})
		}
		return out
	})
	q, ctx := startManager(t, s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	m := msg(s, "a@example.org", "x@remote.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the copy held for hub-a", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })

	// hub-c's answer about the predecessor's copy it took over.
	handed := m.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab"
	if _, _, err := q.ShadowFinishedElsewhere("hub-c", []TakenDone{{ID: handed, Addr: "x@remote.example", Kind: TakenOver}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	_, n, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 1, "connection refused")
	if err != nil && err != ErrTakenOverAlready {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if n != 0 || got != nil && got.Rcpts[0].Status == Pending {
		t.Fatalf("the copy for hub-a, which the predecessor database took over and handed to hub-c (hub-c delivers it), was taken over again here (%d): %+v", n, got)
	}
}

// openRestored opens a database as its first start after `umbra db
// restore` finds it (the backup's mark: Store.Predecessor is the id of
// the database the backup was taken of). fill writes the records the
// backup holds.
func openRestored(t *testing.T, fill ...func(*Store)) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fill {
		f(s)
	}
	old := s.DatabaseID()
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyBackupOf, append([]byte(old), "\x002026-01-01T00:00:00Z"...))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.Predecessor() != old {
		t.Fatalf("predecessor %q, want %s", s.Predecessor(), old)
	}
	return s
}

// shadowHeld makes m a copy held here for hub-a (relayed there in a
// shadow session, copy id sid), as the backup holds it.
func shadowHeld(t *testing.T, s *Store, m *Message, sid string) {
	t.Helper()
	m.State = Shadow
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		r.Status, r.Queue, r.Primary, r.PrimaryAddr, r.ShadowID = Shadowed, "shadow:hub-a", "hub-a", "127.0.0.121:7501", sid
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
}

// SR-6 after `umbra db restore` of a holder (restoredhanded.go): a
// restored database takes over no copy it holds for another primary
// before every transport server told which copies of its predecessor it
// holds (Manager.RestoredAsked), or the bound set at the start passed
// (a server that cannot be asked is waited for that long, no longer).
// Counted meanwhile, the failures take the copy over at the first one
// after the wait. A database never restored does not wait.
func TestSR6RestoredHolderWaitsForEveryServerBeforeTakeover(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(q *Manager, clk *clock.Fake)
	}{
		{"every server answered", func(q *Manager, _ *clock.Fake) { q.RestoredAsked() }},
		{"bound passed", func(_ *Manager, clk *clock.Fake) { clk.Advance(time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openRestored(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			m := msg(s, "a@example.org", "x@remote.example")
			m.Arrived = clk.Now()
			shadowHeld(t, s, m, m.ID.String()+"-"+primaryHash("hub-a")+"-000000000001")
			q.SetRestoredAskBound(30*time.Minute, []string{"hub-c"})
			if !q.RestoredAskPending() {
				t.Fatal("a restored database does not wait for the answers")
			}
			_, n, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 1, "connection refused")
			if n != 0 || !errors.Is(err, ErrTakeoverDeferred) {
				t.Fatalf("taken over before the answers: %d, %v", n, err)
			}
			tc.end(q, clk)
			if q.RestoredAskPending() {
				t.Fatal("still waiting")
			}
			if _, n, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 1, "connection refused"); n != 1 || err != nil {
				t.Fatalf("after the wait: taken %d, %v; want the copy taken over", n, err)
			}
		})
	}
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	q.SetRestoredAskBound(30*time.Minute, []string{"hub-c"})
	if q.RestoredAskPending() {
		t.Fatal("a database never restored waits")
	}
}

// SR-6, SR-7 (restoredhanded.go): the server a restored database's
// predecessor handed copies to lists, to that server only and for its
// FROM= question, a TAKEN line per recipient of each copy it holds from
// it — pending, in delivery, or handed on — and of each it finished
// (bucket finished), in pages; the restored side settles a recipient by
// such a line only when the copy id names its record and the answering
// server, and never its own copy of that server's under the same id.
func TestSR6HolderListsCopiesARestoredServerHandedIt(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	ctx := context.Background()
	var ids []string
	for i, st := range []State{Ready, Active, Shadow} {
		m := msg(s, "a@example.org", "x@remote.example")
		m.ShadowServer, m.ShadowID = "hub-b", "00066"+"1F40795F8E2"[:11]+"-"+primaryHash("hub-c")+"-00000000000"+string(rune('1'+i))
		m.State = st
		if st == Shadow {
			m.Rcpts[0].Status, m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = Shadowed, "hub-d", "y"
		}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ShadowID)
	}
	other := msg(s, "a@example.org", "z@remote.example")
	other.ShadowServer, other.ShadowID, other.State = "hub-e", "000661F40795F8E2-"+primaryHash("hub-c")+"-000000000009", Ready
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(other, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	// A copy of hub-b's finished here.
	if err := s.Update(ctx, func(tx *Tx) error {
		v := append(append(make([]byte, 8), finishedExact), "hub-b\x00000661F40795F8E3-"+primaryHash("hub-c")+"-00000000000f"...)
		return tx.tx.Bucket(bucketFinished).Put(finishedKey("0123456789abcdef0123456789abcdef", "w@remote.example"), v)
	}); err != nil {
		t.Fatal(err)
	}
	var all []TakenDone
	after := ""
	for range 10 {
		got, next := q.HandedHereBy("HUB-B", after, 2)
		if len(got) > 2 {
			t.Fatalf("page of %d lines, max 2", len(got))
		}
		all = append(all, got...)
		if after = next; after == "" {
			break
		}
	}
	if len(all) != 4 {
		t.Fatalf("listed %+v, want the three held copies and the finished one", all)
	}
	for i, n := range all[:3] {
		if n.ID != ids[i] || n.Addr != "x@remote.example" || n.Kind != TakenOver {
			t.Fatalf("line %d: %+v", i, n)
		}
	}
	if n := all[3]; n.Addr != "w@remote.example" || n.ID != "000661F40795F8E3-"+primaryHash("hub-c")+"-00000000000f" {
		t.Fatalf("finished line %+v", n)
	}
	if got, _ := q.HandedHereBy("hub-e", "", 10); len(got) != 1 || got[0].ID != other.ShadowID {
		t.Fatalf("hub-e's: %+v", got)
	}

	// The restored side: its own copy of hub-c's under the line's id is
	// left alone; a line naming another server's hash settles nothing.
	r := openRestored(t)
	qr := NewManager(r, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	m := msg(r, "a@example.org", "x@remote.example")
	sid := m.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab"
	shadowHeld(t, r, m, sid)
	if err := r.Update(ctx, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.Rcpts[0].Primary, got.Rcpts[0].Queue = "hub-c", "shadow:hub-c"
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	if fe, _, err := qr.ShadowFinishedElsewhere("hub-c", []TakenDone{{ID: sid, Addr: "x@remote.example", Kind: TakenOver}}); err != nil || len(fe) != 0 {
		t.Fatalf("its own copy of hub-c's settled: %+v, %v", fe, err)
	}
	wrong := m.ID.String() + "-" + primaryHash("hub-d") + "-0123456789ab"
	if fe, _, err := qr.ShadowFinishedElsewhere("hub-c", []TakenDone{{ID: wrong, Addr: "x@remote.example", Kind: TakenOver}}); err != nil || len(fe) != 0 {
		t.Fatalf("a line naming another server's copy settled: %+v, %v", fe, err)
	}
	got, err := qr.Message(m.ID)
	if err != nil || got.Rcpts[0].Status != Shadowed {
		t.Fatalf("the copy kept for hub-c: %+v, %v", got, err)
	}
}
