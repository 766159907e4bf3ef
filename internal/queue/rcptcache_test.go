package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestRecipientCacheSurvivesReopen: callout answers are in the transport
// database, so an edge restarted while its hubs are down still has them.
func TestRecipientCacheSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := s.PutRecipient(ctx, "alice@corp.test", RecipientAnswer{Known: true, Checked: t0, Reply: "250 ok"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecipient(ctx, "mallory@corp.test", RecipientAnswer{Checked: t0, Reply: "550 5.1.1 unknown"}, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, ok, err := s.GetRecipient("alice@corp.test")
	if err != nil || !ok || !a.Known || !a.Checked.Equal(t0) || a.Reply != "250 ok" {
		t.Fatalf("alice: %+v %v %v", a, ok, err)
	}
	m, ok, _ := s.GetRecipient("mallory@corp.test")
	if !ok || m.Known || m.Reply != "550 5.1.1 unknown" {
		t.Fatalf("mallory: %+v %v", m, ok)
	}
	if _, ok, _ := s.GetRecipient("nobody@corp.test"); ok {
		t.Fatal("an address never asked has an answer")
	}
	// Prune: negatives before t0+1h go, positives checked at t0 stay.
	n, err := s.PruneRecipients(ctx, t0, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if _, ok, _ := s.GetRecipient("mallory@corp.test"); ok {
		t.Fatal("old negative answer kept")
	}
	if _, ok, _ := s.GetRecipient("alice@corp.test"); !ok {
		t.Fatal("positive answer pruned")
	}
}

// TestRecipientCacheBounded: answers to random addresses (RCPTs alone,
// from the internet) cannot grow the transport database beyond the cap:
// negative answers go first, then the oldest positive ones, and the
// answer just written is kept. The count survives a reopen.
func TestRecipientCacheBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const max = 50
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// 10 old positive answers, then 200 random addresses (negative and
	// positive, as a catch-all hub answers).
	for i := 0; i < 10; i++ {
		if err := s.PutRecipient(ctx, fmt.Sprintf("user%d@corp.test", i), RecipientAnswer{Known: true, Checked: t0.Add(time.Duration(i) * time.Second)}, max); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		a := RecipientAnswer{Known: i%2 == 0, Checked: t0.Add(time.Hour + time.Duration(i)*time.Second), Reply: "550 5.1.1 unknown"}
		if err := s.PutRecipient(ctx, fmt.Sprintf("r%04d@corp.test", i), a, max); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountRecipients(); err != nil || n > max {
			t.Fatalf("after %d puts: %d entries (cap %d), %v", 11+i, n, max, err)
		}
	}
	if _, ok, _ := s.GetRecipient("r0199@corp.test"); !ok {
		t.Fatal("the newest answer was evicted")
	}
	// Negative answers were evicted before any positive one: the newest
	// positives remain, and no negative one older than the newest.
	if _, ok, _ := s.GetRecipient("r0198@corp.test"); !ok {
		t.Fatal("newest positive answer evicted")
	}
	if _, ok, _ := s.GetRecipient("user0@corp.test"); ok {
		t.Fatal("the oldest positive answer kept while the cache is full of newer ones")
	}
	// Rewriting an address (an answer refreshed) does not count twice.
	n0, _ := s.CountRecipients()
	for i := 0; i < 5; i++ {
		if err := s.PutRecipient(ctx, "r0198@corp.test", RecipientAnswer{Known: true, Checked: t0.Add(2 * time.Hour)}, max); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.CountRecipients(); n != n0 {
		t.Fatalf("a rewritten answer changed the count %d -> %d", n0, n)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 100; i++ {
		if err := s.PutRecipient(ctx, fmt.Sprintf("x%04d@corp.test", i), RecipientAnswer{Checked: t0.Add(3 * time.Hour)}, max); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CountRecipients(); err != nil || n > max {
		t.Fatalf("after reopen: %d entries (cap %d), %v", n, max, err)
	}
	// Pruning keeps the count true.
	if _, err := s.PruneRecipients(ctx, t0.Add(24*time.Hour), t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountRecipients(); err != nil || n != 0 {
		t.Fatalf("after pruning everything: %d entries, %v", n, err)
	}
}

// A database whose answers were written by a release before the cap
// (no count, no rcptage index) is counted and indexed at its first
// write, and the cap then holds.
func TestRecipientCacheBoundedAfterUpgrade(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// As the earlier release wrote them: the answer only.
	if err := s.Update(ctx, func(tx *Tx) error {
		for i := 0; i < 30; i++ {
			v := append([]byte{1}, make([]byte, 8)...)
			if err := tx.tx.Bucket(bucketRcptCache).Put([]byte(fmt.Sprintf("old%02d@corp.test", i)), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountRecipients(); n != 30 {
		t.Fatalf("count before the first write: %d", n)
	}
	if err := s.PutRecipient(ctx, "new@corp.test", RecipientAnswer{Known: true, Checked: t0}, 10); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountRecipients(); err != nil || n != 10 {
		t.Fatalf("after the first write with cap 10: %d entries, %v", n, err)
	}
	if _, ok, _ := s.GetRecipient("new@corp.test"); !ok {
		t.Fatal("the answer written was evicted")
	}
}
