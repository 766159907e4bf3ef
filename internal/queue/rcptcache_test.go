package queue

import (
	"context"
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
	if err := s.PutRecipient(ctx, "alice@corp.test", RecipientAnswer{Known: true, Checked: t0, Reply: "250 ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecipient(ctx, "mallory@corp.test", RecipientAnswer{Checked: t0, Reply: "550 5.1.1 unknown"}); err != nil {
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
