package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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
			out[fmt.Sprintf("%s %s", k[:len(k)-9], ID(beUint64(k[len(k)-8:])))] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
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
