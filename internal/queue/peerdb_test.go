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
// receipt and on a contact alike, and after the server itself presented
// a new id (rt18d-F1).
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
	// disk loss: the old id stays hub-a's (retired: rt18d-F1,
	// TestRetiredDatabaseIDStaysItsServers).
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a"); err != nil {
		t.Fatalf("hub-a presenting its own id: %v", err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-a2"); err != nil {
		t.Fatalf("hub-a presenting a new id: %v", err)
	}
	for _, id := range []string{"db-a", "db-a2"} {
		if o, err := q.ShadowDatabaseOfAnother("hub-c", id); err != nil || o != "hub-a" {
			t.Fatalf("ShadowDatabaseOfAnother(hub-c, %s) after hub-a's new database = %q, %v; want hub-a", id, o, err)
		}
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
		if err := tx.tx.Bucket(bucketHolders).Put(holderKey("hub-h"), []byte("db-h")); err != nil {
			return err // a shadow server's id, recorded without the index
		}
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
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-h"); err != nil || o != "hub-h" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-c, db-h) = %q, %v; want hub-h", o, err)
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
	// rt19f F5: refused in words about the id, never "the message".
	if _, err := q.ForgetDatabaseID("db-a"); !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), "hub-a") || strings.Contains(err.Error(), "apply to the message") {
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

// SR-7, rt18d-F1: a database id met as one server's stays that server's
// also after the server presents a new one (its disk lost and wiped):
// the old id is retired, not released. Another server presenting it is
// refused; the server itself presenting it again (its database put back
// from a copy) is accepted as its own. Only the operator releases it
// (umbra shadow forget-database), retired ids too.
func TestRetiredDatabaseIDStaysItsServers(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2", "hub-c": "127.0.0.3"}, nil)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-old"); err != nil {
		t.Fatal(err)
	}
	// hub-a comes back with a new database: its copies are taken over.
	res, err := q.ShadowContact("hub-a", "db-new", nil)
	if err != nil || res.TakenOver == 0 {
		t.Fatalf("hub-a presenting a new id: %+v, %v; want its copy taken over", res, err)
	}
	var other *DatabaseOfAnotherError
	if _, err := q.ShadowPresented("hub-b", "db-old", nil); !errors.As(err, &other) || other.Other != "hub-a" {
		t.Fatalf("hub-b presenting hub-a's retired id: %v; want it refused as hub-a's", err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-b", "db-old"); !errors.As(err, &other) || other.Other != "hub-a" {
		t.Fatalf("hub-b pushing a copy with hub-a's retired id: %v; want it refused as hub-a's", err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-b", "db-old"); err != nil || o != "hub-a" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-b, db-old) = %q, %v; want hub-a", o, err)
	}
	if p := peerRecord(t, s, "hub-b"); p != nil {
		t.Fatalf("hub-b recorded after presenting another's id: %+v", p)
	}
	// The same after hub-a's record went and it came back with a third id.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.DeletePeer("hub-a") }); err != nil {
		t.Fatal(err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-third"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"db-old", "db-new", "db-third"} {
		if o, err := q.ShadowDatabaseOfAnother("hub-c", id); err != nil || o != "hub-a" {
			t.Fatalf("ShadowDatabaseOfAnother(hub-c, %s) = %q, %v; want hub-a", id, o, err)
		}
	}
	// hub-a's database put back from a copy presents its old id: its own.
	if o, err := q.ShadowDatabaseOfAnother("hub-a", "db-old"); err != nil || o != "" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-a, db-old) = %q, %v; want none (hub-a's own)", o, err)
	}
	if _, err := q.ShadowContact("hub-a", "db-old", nil); err != nil {
		t.Fatalf("hub-a presenting its own earlier id: %v", err)
	}
	if p := peerRecord(t, s, "hub-a"); p == nil || p.DatabaseID != "db-old" {
		t.Fatalf("hub-a's record after its restore: %+v; want database db-old", p)
	}
	// The operator releases a retired id (the record holds another).
	if owners, err := q.ForgetDatabaseID("db-third"); err != nil || len(owners) != 1 || owners[0] != "hub-a" {
		t.Fatalf("ForgetDatabaseID(db-third), retired = %v, %v; want [hub-a]", owners, err)
	}
	if _, err := q.ForgetDatabaseID("db-old"); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("forgetting the id hub-a's record holds: %v; want it refused", err)
	}
	if _, err := pushCopy(ctx, q, s, "hub-c", "db-third"); err != nil {
		t.Fatalf("hub-c presenting the forgotten id: %v", err)
	}
}

func peerRecord(t *testing.T, s *Store, primary string) *ShadowPeer {
	t.Helper()
	var p *ShadowPeer
	if err := s.View(func(tx *Tx) error { var err error; p, err = tx.Peer(primary); return err }); err != nil {
		t.Fatal(err)
	}
	return p
}

// SR-7, rt18d-F1 (sibling): the database id a shadow server presents in
// the reply to a session this server opened to it (a copy on receipt, a
// probe: ShadowHolderSeen) goes through the same check. hub-b answering
// with hub-a's retired id is not recorded as hub-b's: its copies here
// are not marked lost, and its stored id stays.
func TestHolderPresentingAnotherServersDatabase(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"}, nil)
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-old"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub-a", "db-new", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-b", "db-b"); err != nil {
		t.Fatal(err)
	}
	var other *DatabaseOfAnotherError
	lost, old, err := q.ShadowHolderSeen("hub-b", "db-old")
	if !errors.As(err, &other) || other.Other != "hub-a" || lost != 0 || old != "" {
		t.Fatalf("hub-b presenting hub-a's retired id as a shadow server: lost %d, old %q, %v; want it refused as hub-a's", lost, old, err)
	}
	if id, err := q.ShadowHolderID("hub-b"); err != nil || id != "db-b" {
		t.Fatalf("hub-b's stored id %q, %v; want db-b", id, err)
	}
	// hub-a's own, as a shadow server: recorded.
	if _, _, err := q.ShadowHolderSeen("hub-a", "db-new"); err != nil {
		t.Fatalf("hub-a presenting its own id as a shadow server: %v", err)
	}
}

// SR-7, rt18d-F1 (sibling): an id met only as a shadow server's (a
// holder of this server's copies, never a primary of copies here) is
// that server's too, and stays so after it presents a new one: another
// server presenting it at XSHADOW … DB= is refused, and nothing of its
// own is recorded. The holder presenting its old id again is its own.
func TestRetiredHolderDatabaseIDStaysItsServers(t *testing.T) {
	s := openTest(t)
	q, _ := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"}, nil)
	for _, id := range []string{"db-a-old", "db-a-new"} {
		if _, _, err := q.ShadowHolderSeen("hub-a", id); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := q.ShadowHolderSeen("hub-b", "db-b"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"db-a-old", "db-a-new"} {
		if o, err := q.ShadowDatabaseOfAnother("hub-b", id); err != nil || o != "hub-a" {
			t.Fatalf("ShadowDatabaseOfAnother(hub-b, %s) = %q, %v; want hub-a", id, o, err)
		}
	}
	var other *DatabaseOfAnotherError
	if _, _, err := q.ShadowHolderSeen("hub-b", "db-a-old"); !errors.As(err, &other) {
		t.Fatalf("hub-b presenting hub-a's retired holder id: %v; want it refused", err)
	}
	if _, err := q.ShadowContact("hub-b", "db-a-old", nil); !errors.As(err, &other) {
		t.Fatalf("hub-b's contact presenting hub-a's retired holder id: %v; want it refused", err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-a", "db-a-old"); err != nil || o != "" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-a, db-a-old) = %q, %v; want none (hub-a's own)", o, err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-a", "db-a-old"); err != nil {
		t.Fatalf("hub-a presenting its own earlier id: %v", err)
	}
	// The operator forgets a retired holder id; not one a holder's
	// record holds.
	if _, err := q.ForgetDatabaseID("db-a-old"); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("forgetting the id hub-a's holder record holds: %v; want it refused", err)
	}
	if owners, err := q.ForgetDatabaseID("db-a-new"); err != nil || len(owners) != 1 || owners[0] != "hub-a" {
		t.Fatalf("ForgetDatabaseID(db-a-new) = %v, %v; want [hub-a]", owners, err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-b", "db-a-new"); err != nil || o != "" {
		t.Fatalf("ShadowDatabaseOfAnother(hub-b, db-a-new) after forgetting = %q, %v; want none", o, err)
	}
}

// The relay path's first copy for a next hop kept under a send
// connector's host name, whose address is a server's whose id is met
// already (as its holder id, or its own record's): the id is the same
// server's, recorded for the host name's record.
func TestRelayByHostNameToAServerWhoseIDIsMet(t *testing.T) {
	for _, how := range []string{"holder", "primary"} {
		t.Run(how, func(t *testing.T) {
			s := openTest(t)
			d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				var out []Result
				for _, i := range rcpts {
					out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "relay.example", PrimaryAddr: "127.0.0.2:25",
						ShadowID: m.ID.String() + "-b", PrimaryDB: "db-b", Reply: "250 queued"})
				}
				return out
			})
			q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"}, d)
			if how == "holder" {
				if _, _, err := q.ShadowHolderSeen("hub-b", "db-b"); err != nil {
					t.Fatal(err)
				}
			} else if _, err := pushCopy(ctx, q, s, "hub-b", "db-b"); err != nil {
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
			if p := peerRecord(t, s, "relay.example"); p == nil || p.DatabaseID != "db-b" {
				t.Fatalf("relay.example's record %+v: want database db-b (hub-b's, at its address)", p)
			}
		})
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
	// The warning is logged after the commit returns (shadowTransitions'
	// after-func): wait for both, then stop the manager so that a second
	// warning, if any, is in the log before it is counted.
	waitFor(t, "the relay's commit and its warning", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Shadow && strings.Contains(log.String(), "it is another server's")
	})
	cancel()
	q.Wait()
	if n := strings.Count(log.String(), "it is another server's"); n != 1 {
		t.Fatalf("the warning about hub-b's database id logged %d times for one message; want once", n)
	}
}

// rt18e-F1: this server's own database id presented by a peer is
// refused by the one check, and nothing records it as the peer's.
func TestOwnDatabaseIDPresentedByAPeerRefused(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	other, err := q.ShadowDatabaseOfAnother("hub-b", s.DatabaseID())
	if err != nil || other == "" {
		t.Fatalf("hub-b presenting this server's own id %s: other %q, %v; want refused", s.DatabaseID(), other, err)
	}
}
