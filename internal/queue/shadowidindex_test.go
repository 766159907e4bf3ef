package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// queuedCopies writes n Ready records whose copies hub-b keeps (one in
// three a relayed message's copy, "<id>-…") and returns them.
func queuedCopies(t *testing.T, s *Store, now time.Time, n int) []*Message {
	t.Helper()
	var out []*Message
	if err := s.Update(context.Background(), func(tx *Tx) error {
		out = out[:0]
		for i := 0; i < n; i++ {
			m := txMsg(tx, "s@example.org", "a@x.example", "b@x.example")
			m.State, m.Arrived, m.NextAttempt = Ready, now, now.Add(time.Hour)
			m.OrgID, m.ShadowServer = fmt.Sprintf("%032x", i+1), "hub-b"
			m.ShadowID = m.OrgID
			if i%3 == 0 {
				m.ShadowID = fmt.Sprintf("%016X-%08X", i+1, i+1)
			}
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodedBy counts the message records each commit of s reads (the
// commit fault hook runs inside the writer's transaction, after its
// function) and returns the count of the last one.
func decodedBy(s *Store) *atomic.Int64 {
	var last atomic.Int64
	s.setCommitFault(func(tx *Tx) error {
		last.Store(int64(tx.decoded))
		return nil
	})
	return &last
}

// SR-8, SR-13: the notes of what a holder finished of the copies it took
// over (XQUERYTAKENDONE) are applied by the returning primary in the
// single writer's transaction: the records they name are found by one
// seek per copy id (the org id index, the index of records by copy id),
// never by a walk over the queue — which, with 100,000 messages queued,
// held every receive commit for about 0.4 s per batch of notes. Proved
// by the records the commit reads: those the notes name, whatever the
// size of the queue.
func TestTakenDoneReadsOnlyTheNamedRecords(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ms := queuedCopies(t, s, clk.Now(), 300)
	byOrg, relayed := ms[1], ms[3] // a copy on receipt, a relayed message's copy
	notes := []TakenDone{{ID: byOrg.ShadowID, Addr: "a@x.example", Kind: TakenDelivered},
		{ID: relayed.ShadowID, Addr: "b@x.example", Kind: TakenFailed},
		{ID: "0123456789ABCDEF-0000FFFF", Addr: "a@x.example", Kind: TakenDelivered}} // no such copy
	decoded := decodedBy(s)
	fe, busy, err := q.ShadowFinishedElsewhere("hub-b", notes)
	if err != nil || len(fe) != 2 || busy != 0 {
		t.Fatalf("finished elsewhere: %d changed, %d busy, %v; want 2, 0", len(fe), busy, err)
	}
	// Each named record is read by its org id and by its copy id; the
	// Put reads it once more. Far below the 300 queued.
	if n := decoded.Load(); n > 8 {
		t.Fatalf("applying 3 notes read %d message records of the 300 queued: a walk over the queue", n)
	}
	s.setCommitFault(nil)
	for _, c := range []struct {
		m    *Message
		rcpt int
		want RcptStatus
	}{{byOrg, 0, Relayed}, {relayed, 1, Failed}} {
		got, err := q.Message(c.m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rcpts[c.rcpt].Status != c.want || got.Rcpts[1-c.rcpt].Status != Pending {
			t.Fatalf("%s: statuses %s %s, want %s for the named one, the other pending", c.m.ShadowID,
				got.Rcpts[0].Status, got.Rcpts[1].Status, c.want)
		}
	}

	// The same for the copies a holder's operator removed
	// (XQUERYDROPPED): the named ones only.
	decoded = decodedBy(s)
	n, err := q.ShadowCopiesDropped("hub-b", []string{ms[6].ShadowID, ms[7].ShadowID, "0123456789ABCDEF-0000FFFF"})
	if err != nil || n != 2 {
		t.Fatalf("copies dropped: %d marked, %v; want 2", n, err)
	}
	if n := decoded.Load(); n > 6 {
		t.Fatalf("marking 2 copies dropped read %d message records of the 300 queued: a walk over the queue", n)
	}
}

// SR-13: the index of records by copy id is kept in the commits that
// write and delete the records, and every Open checks it against the
// records (as the takenby index): a release without it, run in between,
// leaves entries missing or naming nothing, and the Open mends both.
func TestShadowIDIndexKeptAndRepairedAtOpen(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms := queuedCopies(t, s, now, 6)
	entries := func(s *Store) map[string]bool {
		out := map[string]bool{}
		s.View(func(tx *Tx) error {
			return tx.tx.Bucket(bucketShadowIDs).ForEach(func(k, _ []byte) error {
				out[string(k)] = true
				return nil
			})
		})
		return out
	}
	want := func(ms ...*Message) map[string]bool {
		out := map[string]bool{}
		for _, m := range ms {
			out[string(shadowIDKey(m.ShadowID, m.ID))] = true
		}
		return out
	}
	same := func(what string, got, want map[string]bool) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("%s: entry %q missing", what, k)
			}
		}
	}
	same("written with the records", entries(s), want(ms...))
	// A new copy id (a copy made again elsewhere under another id), a
	// record deleted, a record with no copy: the index follows.
	if err := s.Update(ctx, func(tx *Tx) error {
		m, err := tx.Get(ms[0].ID)
		if err != nil {
			return err
		}
		m.ShadowID = "FEDCBA9876543210-00000001"
		ms[0] = m
		if err := tx.Put(m); err != nil {
			return err
		}
		if err := tx.Delete(ms[1].ID); err != nil {
			return err
		}
		m, err = tx.Get(ms[2].ID)
		if err != nil {
			return err
		}
		m.ShadowServer, m.ShadowID = "", ""
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	same("after a new id, a delete and a copy gone", entries(s), want(ms[0], ms[3], ms[4], ms[5]))

	// A release without the index: one entry lost, one naming no record.
	if err := s.Update(ctx, func(tx *Tx) error {
		b := tx.tx.Bucket(bucketShadowIDs)
		if err := b.Delete(shadowIDKey(ms[3].ShadowID, ms[3].ID)); err != nil {
			return err
		}
		return b.Put(shadowIDKey("0123456789ABCDEF-0000FFFF", ms[4].ID), []byte{})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	same("after the Open's check", entries(s), want(ms[0], ms[3], ms[4], ms[5]))
}
