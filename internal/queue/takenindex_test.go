package queue

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/clock"
)

// takenEntries reads the index of taken-over copies: "primary id" → value.
func takenEntries(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTakenBy).ForEach(func(k, v []byte) error {
			if len(k) < 9 || k[len(k)-9] != 0 {
				return fmt.Errorf("bad key %q", k)
			}
			out[fmt.Sprintf("%s %s", k[:len(k)-9], ID(beUint64(k[len(k)-8:])))] = takenSummary(decodeTaken(v))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// takenSummary is an entry's value when every copy it lists has the same
// one (an entry listing none: its def), else each copy's, "sid=value"
// in the order of the ids, joined by commas.
func takenSummary(e takenEntry) string {
	vals := e.values()
	same := true
	for _, v := range vals {
		same = same && v == vals[0]
	}
	if same {
		return vals[0]
	}
	var parts []string
	for _, sid := range slices.Sorted(maps.Keys(e.copies)) {
		parts = append(parts, sid+"="+e.copies[sid])
	}
	return strings.Join(parts, ",")
}

// checkTakenIndex fails unless the index names exactly the taken-over
// copies the records hold.
func checkTakenIndex(t *testing.T, s *Store, when string) {
	t.Helper()
	want := map[string]bool{}
	for _, m := range messages(t, s) {
		for _, p := range takenFrom(m) {
			want[p+" "+m.ID.String()] = true
		}
	}
	got := takenEntries(t, s)
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s: index lacks %s", when, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: index names %s, which is no taken-over copy", when, k)
		}
	}
}

// A primary stays watched while its only taken-over copy waits outside
// its shadow queue — poisoned, in a suspended route's queue, redirected
// — behind more records in those queues than the old scan read (2,000),
// and a primary without any copy here is not watched for those records
// (the scan counted it as holding copies past its cap, so its record was
// never dropped). shadow list counts the copy.
func TestTakenOverCopyWatchedPastOldScanCap(t *testing.T) {
	for _, where := range []string{"poison", "suspended", "redirect"} {
		t.Run(where, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := NewManager(s, newScripted(nil), ManagerConfig{Clock: clk})
			old := clk.Now().Add(-time.Hour) // past peerGrace: a primary not watched is dropped
			put := func(tx *Tx, state State, queue, redirect, primary string) error {
				m := msg(s, "a@example.org", "x@b.example")
				m.State, m.Arrived, m.OrgID = state, old, "org-"+m.ID.String()
				r := &m.Rcpts[0]
				r.Status, r.Queue, r.Redirect = Pending, queue, redirect
				if primary != "" {
					r.Primary, r.ShadowID = primary, m.ID.String()+"-b"
				}
				return tx.Put(m)
			}
			if err := s.Update(context.Background(), func(tx *Tx) error {
				for _, p := range []string{"hub-b", "hub-c"} {
					if err := tx.PutPeer(&ShadowPeer{Primary: p, Addr: "127.0.0.2:25", DatabaseID: "db1", LastContact: old}); err != nil {
						return err
					}
				}
				if err := tx.SetSuspended("mx:s.example", true); err != nil {
					return err
				}
				for i := 0; i < maxOldScan+1; i++ {
					if err := put(tx, Poison, "mx:p.example", "", ""); err != nil {
						return err
					}
					if err := put(tx, Suspended, "mx:s.example", "", ""); err != nil {
						return err
					}
				}
				switch where { // the taken-over copy comes last, past the old scan's reach
				case "poison":
					return put(tx, Poison, "shadow:hub-b", "", "hub-b")
				case "suspended":
					return put(tx, Suspended, "mx:s.example", "", "hub-b")
				}
				return put(tx, Ready, "redirect:192.0.2.9:25", "192.0.2.9:25", "hub-b")
			}); err != nil {
				t.Fatal(err)
			}
			peers, err := q.ShadowPeers()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range peers {
				names = append(names, p.Primary)
			}
			if !slices.Equal(names, []string{"hub-b"}) {
				t.Fatalf("watched primaries: %v; want only hub-b", names)
			}
			if err := s.View(func(tx *Tx) error {
				if p, _ := tx.Peer("hub-c"); p != nil {
					t.Errorf("the record of hub-c, which has no copy here, was kept")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if c, err := q.ShadowCopies(); err != nil || c["hub-b"] != (ShadowCopyCount{TakenOver: 1}) {
				t.Fatalf("copies of hub-b: %+v %v; want 1 taken over", c, err)
			}
		})
	}
}

// maxOldScan is how many records the scan this index replaced read.
const maxOldScan = 2000

// The index agrees with the records in every committed state — what a
// kill -9 between two operations leaves (a snapshot of the file) — and
// keeps which database a copy goes back to across a reopen; an index an
// earlier release left behind (entries missing, or naming copies gone)
// is made to agree at Open, entries that agree keeping their value.
func TestTakenIndexSurvivesCrashAndRepairs(t *testing.T) {
	r := newTakebackRig(t)
	dir := t.TempDir()
	n := 0
	snapshot := func(when string) *Store {
		t.Helper()
		n++
		path := filepath.Join(dir, fmt.Sprintf("crash%d.db", n))
		if err := r.s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(path, 0o600) }); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		checkTakenIndex(t, s, when)
		return s
	}
	m1 := r.submit(t, "x@b.example")
	m2 := r.submit(t, "x@b.example", "y@c.example")
	snapshot("copies held")
	r.failHeartbeats(t)
	waitFor(t, "the taken-over copies' attempts", func() bool {
		a, _ := r.q.Message(m1.ID)
		b, _ := r.q.Message(m2.ID)
		return a != nil && b != nil && a.State == Ready && a.Attempts >= 1 && b.State == Ready && b.Attempts >= 2
	})
	s := snapshot("taken over")
	got := takenEntries(t, s)
	for _, m := range []*Message{m1, m2} {
		if v, ok := got["hub-b "+m.ID.String()]; !ok || v != "db1" {
			t.Fatalf("after a reopen, the copy of %s goes back to %q (%v); want db1", m.ID, v, ok)
		}
	}
	if _, err := r.q.ShadowContact("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	snapshot("given back")
	if _, err := r.q.ShadowContact("hub-b", "db1", []string{m1.ID.String() + "-b"}); err != nil {
		t.Fatal(err)
	}
	s = snapshot("one discarded")

	// An earlier release wrote records without the index: entries are
	// missing and others name copies gone. Open makes it agree again.
	r.failHeartbeats(t)
	waitFor(t, "m2 taken over again", func() bool {
		b, _ := r.q.Message(m2.ID)
		return b != nil && b.State == Ready && b.Rcpts[0].Status == Pending
	})
	s = snapshot("taken over again")
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTakenBy)
		if err := b.Put(takenByKey("hub-gone", m1.ID), []byte("db9")); err != nil {
			return err
		}
		return b.Put(takenByKey("hub-b", m1.ID), []byte("db1"))
	}); err != nil {
		t.Fatal(err)
	}
	path := s.db.Path()
	s.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkTakenIndex(t, s, "reopened after stale entries")
	if v := takenEntries(t, s)["hub-b "+m2.ID.String()]; v != "db1" {
		t.Fatalf("an entry that agreed lost its value at the repair: %q", v)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTakenBy).Delete(takenByKey("hub-b", m2.ID))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkTakenIndex(t, s, "reopened after a missing entry")
	if v := takenEntries(t, s)["hub-b "+m2.ID.String()]; v != "" {
		t.Fatalf("an entry made at the repair goes back to %q; want never (empty)", v)
	}
}

// SR-7, SR-6: an index entry an earlier release wrote holds one value for
// the message: it keeps its meaning for the copies it spoke for — at
// Open, which writes it per copy, and at a later takeover of another
// copy of the message, before or after the record's Put — while the
// later copy gets its own (mixed38 defect 1: one value for both filed
// the later copy under the old database).
func TestTakenIndexEarlierReleaseValueKeptPerCopy(t *testing.T) {
	for _, order := range []string{"mark before put", "mark after put", "reopened first"} {
		t.Run(order, func(t *testing.T) {
			s := openTest(t)
			m := msg(s, "a@example.org", "x@b.example", "y@b.example")
			m.State = Ready
			m.Rcpts[0] = Recipient{Addr: "x@b.example", Status: Shadowed, Queue: "shadow:hub-b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-c"}
			m.Rcpts[1] = Recipient{Addr: "y@b.example", Status: Pending, Queue: "shadow:hub-b", Primary: "hub-b", ShadowID: m.ID.String() + "-b"}
			never1 := takenValue("db1", false)
			if err := s.Update(context.Background(), func(tx *Tx) error {
				if err := tx.PutNew(m, []byte(body)); err != nil {
					return err
				}
				// As an earlier release left it: one value, y's.
				return tx.tx.Bucket(bucketTakenBy).Put(takenByKey("hub-b", m.ID), []byte(never1))
			}); err != nil {
				t.Fatal(err)
			}
			if order == "reopened first" {
				path := s.db.Path()
				s.Close()
				var err error
				if s, err = Open(path, Options{}); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if v := takenEntries(t, s)["hub-b "+m.ID.String()]; v != never1 {
					t.Fatalf("Open's rewrite per copy changed the value of y's copy: %q", v)
				}
			}
			if err := s.Update(context.Background(), func(tx *Tx) error {
				got, err := tx.Get(m.ID)
				if err != nil {
					return err
				}
				sids := takeoverRcpts(got, "hub-b", "heartbeats failed")
				if order == "mark before put" {
					if err := tx.markTaken("hub-b", got.ID, sids, takenValue("db2", true)); err != nil {
						return err
					}
					return tx.Put(got)
				}
				if err := tx.Put(got); err != nil {
					return err
				}
				return tx.markTaken("hub-b", got.ID, sids, takenValue("db2", true))
			}); err != nil {
				t.Fatal(err)
			}
			want := m.ID.String() + "-b=" + never1 + "," + m.ID.String() + "-c=db2"
			if v := takenEntries(t, s)["hub-b "+m.ID.String()]; v != want {
				t.Fatalf("entry %q; want %q: y's copy keeps the earlier release's value, x's has its own", v, want)
			}
		})
	}
}

// SR-7: an earlier release that merged a takeover into a value of this
// one (its mergeTaken: never given back, before the whole value) leaves
// every copy under its database, never given back; a value that does
// not parse names none.
func TestTakenIndexValueMergedByEarlierRelease(t *testing.T) {
	e := takenEntry{copies: map[string]string{"a-b": "db1", "a-c": takenValue("db2", false)}}
	got := decodeTaken(append([]byte(takenUnderMark), e.encode()...))
	if got.of("a-b") != takenValue("db1", false) || got.of("a-c") != takenValue("db2", false) {
		t.Errorf("merged by an earlier release: %+v", got)
	}
	if bad := decodeTaken([]byte{takenCopyMark, 9, 'x'}); bad.of("a-b") != "" {
		t.Errorf("a value that does not parse names %q", bad.of("a-b"))
	}
	if rt := decodeTaken(e.encode()); rt.of("a-b") != "db1" || rt.of("a-c") != takenValue("db2", false) || rt.of("a-d") != "" {
		t.Errorf("round trip: %+v", rt)
	}
}
