package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/orgid"
)

// newPeerDBManager is a started manager over s whose topology knows the
// servers of t.
func newPeerDBManager(tb testing.TB, s *Store, t topo, d Deliverer) (*Manager, context.Context) {
	tb.Helper()
	if d == nil {
		d = DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil })
	}
	q := NewManager(s, d, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(func() { cancel(); q.Wait() })
	q.SetServers(t)
	q.Start(ctx)
	return q, ctx
}

func pushCopy(ctx context.Context, q *Manager, s *Store, primary, dbID string) (*Message, error) {
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	_, err := q.SubmitShadowCopy(ctx, c, []byte(body), primary, "", dbID)
	return c, err
}

// SR-7, rt18 ident18 item 2a: a database id met as one server's stays
// that server's when its record goes (no copies left, the grace past):
// another server presenting it later is refused as before, on a copy on
// receipt and on a contact alike. Only the server itself presenting a
// new id (its disk lost) gives the old one up.
func TestDatabaseIDOutlivesItsRecord(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"}, nil)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatal(err)
	}
	// The record of hub-a goes, as ShadowPeers drops it once no copy is
	// left and the grace is past.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeletePeer("hub-a") }); err != nil {
		t.Fatal(err)
	}
	var other *DatabaseOfAnotherError
	if _, err := pushCopy(ctx, q, s, "hub-c", "db-a"); !errors.As(err, &other) || other.Other != "hub-a" {
		t.Fatalf("hub-c pushing a copy with the database id of hub-a, whose record went: %v; want it refused as hub-a's", err)
	}
	if _, err := q.ShadowPresented("hub-c", "db-a", nil); !errors.As(err, &other) {
		t.Fatalf("hub-c presenting the database id of hub-a, whose record went: %v; want it refused", err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-a"); err != nil || o != "hub-a" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-c, db-a) = %q, %v; want hub-a", o, err)
	}
	// hub-a itself may come back with it, and with a new one after a
	// disk loss: then the old id is no longer anyone's.
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatalf("hub-a presenting its own id: %v", err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a2"); err != nil {
		t.Fatalf("hub-a presenting a new id: %v", err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-a"); err != nil || o != "" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-c, db-a) after hub-a's new database = %q, %v; want none", o, err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-a2"); err != nil || o != "hub-a" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-c, db-a2) = %q, %v; want hub-a", o, err)
	}
	// The same when hub-a comes back with a new id after its record
	// went: its old id is no longer anyone's.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeletePeer("hub-a") }); err != nil {
		t.Fatal(err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a3"); err != nil {
		t.Fatalf("hub-a presenting a new id after its record went: %v", err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-a2"); err != nil || o != "" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-c, db-a2) after hub-a's new database = %q, %v; want none", o, err)
	}
}

// SR-7, rt18 ident18 item 2a: the ids met survive a restart, also those
// of records written before the index existed (rebuilt at open).
func TestDatabaseIDIndexAtOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir+"/queue.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A record written as an older release wrote it: no index entry.
	if err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.tx.Bucket(bucketPeers).Put([]byte("hub-a"), (&ShadowPeer{Primary: "hub-a", DatabaseID: "db-a"}).encode())
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir+"/queue.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"}, nil)
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-a"); err != nil || o != "hub-a" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-c, db-a) = %q, %v; want hub-a", o, err)
	}
}

// SR-7, rt18 ident18 item 2b: the relay path records the next hop's
// database id through the same check: a hop presenting the id this
// server keeps as another server's does not get it recorded as its own
// (its copy stays held; its heartbeats meet the same check).
func TestRelayCopyPresentingAnotherServersDatabase(t *testing.T) {
	s := openTest(t)
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db-a", Reply: "250 queued"})
		}
		return out
	})
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"}, d)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "x@remote.example")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay's commit", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Shadow
	})
	var p *ShadowPeer
	if err := s.View(func(tx *Tx) error { var err error; p, err = tx.Peer("hub-b"); return err }); err != nil {
		t.Fatal(err)
	}
	if p == nil || p.DatabaseID == "db-a" {
		t.Fatalf("hub-b's record %+v: want it without hub-a's database id", p)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-a", "db-a"); err != nil || o != "" {
		t.Fatalf("hub-a's own id now another's (%q, %v)", o, err)
	}
}

// benchPeers is a store, without fsync, whose topology and records know
// n primaries hub-0… with database ids db-0…, and a manager over it.
func benchPeers(b *testing.B, n int) (*Manager, *Store, context.Context) {
	s, err := Open(b.TempDir()+"/queue.db", Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	t := topo{}
	for i := range n {
		t[fmt.Sprintf("hub-%d", i)] = fmt.Sprintf("127.0.%d.%d", i/250, i%250)
	}
	q, ctx := newPeerDBManager(b, s, t, nil)
	for i := range n {
		if _, err := pushCopy(ctx, q, s, fmt.Sprintf("hub-%d", i), fmt.Sprintf("db-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	return q, s, ctx
}

// BenchmarkCopyOnReceiptManyPeers: a copy on receipt with 50 primaries
// known — the MAIL-time check and the commit's (rt18 ident18 item 1).
func BenchmarkCopyOnReceiptManyPeers(b *testing.B) {
	q, s, ctx := benchPeers(b, 50)
	b.ResetTimer()
	for range b.N {
		if o, err := q.ShadowDatabaseOfAnother("hub-7", "db-7"); err != nil || o != "" {
			b.Fatal(o, err)
		}
		if _, err := pushCopy(ctx, q, s, "hub-7", "db-7"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDatabaseCheck: the check alone, by the number of primaries
// known: its cost must not grow with them.
func BenchmarkDatabaseCheck(b *testing.B) {
	for _, n := range []int{5, 50, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			q, _, _ := benchPeers(b, n)
			b.ResetTimer()
			for range b.N {
				if o, err := q.ShadowDatabaseOfAnother("hub-3", "db-3"); err != nil || o != "" {
					b.Fatal(o, err)
				}
			}
		})
	}
}

// ident18 item 2a: the operator may forget an id met as a server's once
// no record here holds it (umbra shadow forget-database): another server
// presenting it is then accepted. Refused while the record holds it.
func TestForgetDatabaseID(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"}, nil)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ForgetDatabaseID("db-a"); !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), "hub-a") {
		t.Fatalf("forgetting the id of a record holding it: %v; want it refused naming hub-a", err)
	}
	if _, err := q.ForgetDatabaseID("db-x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forgetting an id never met: %v; want ErrNotFound", err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeletePeer("hub-a") }); err != nil {
		t.Fatal(err)
	}
	if owners, err := q.ForgetDatabaseID("db-a"); err != nil || len(owners) != 1 || owners[0] != "hub-a" {
		t.Fatalf("ForgetDatabaseID(db-a) = %v, %v; want [hub-a]", owners, err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-c", "db-a"); err != nil {
		t.Fatalf("hub-c presenting the forgotten id: %v", err)
	}
}

// SR-7, rt18 ident18 review item 1: a relay commit checks the next
// hop's database id once per primary, not once per recipient: a
// 20-recipient message handed to a hop presenting another server's id
// warns once (and seeks the index once).
func TestRelayDatabaseCheckOncePerPrimary(t *testing.T) {
	s := openTest(t)
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db-a", Reply: "250 queued"})
		}
		return out
	})
	var log logBuf
	q := NewManager(s, d, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}, Log: slog.New(slog.NewTextHandler(&log, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"})
	q.Start(ctx)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	for i := range 20 {
		rcpts = append(rcpts, fmt.Sprintf("x%d@remote.example", i))
	}
	m := msg(s, "a@example.org", rcpts...)
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay's commit", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Shadow
	})
	if n := strings.Count(log.String(), "it is another server's"); n != 1 {
		t.Fatalf("the warning about hub-b's database id logged %d times for one message; want once", n)
	}
}
