package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt48 F1: the dry run of message remove is the removal's own decision.
// A poison message whose spooled body is cut short here while hub-a
// holds its shadow copy is refused by remove without --force (the copy
// would go with it): CheckRemove, which the admin API's dry run asks,
// refuses it with the same text, and passes it with force. The refusal
// is not labelled as one for a shadow copy: the message is this
// server's own.
func TestCheckRemoveIsTheRemovalsDecision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := spooled(t, s, bigContent(100<<10))
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt, m.LastError = Poison, time.Now().Add(time.Hour), "body unreadable: test"
	m.ShadowServer, m.ShadowID = "hub-a", "copy-1"
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	p, _, _ := b.File()
	if err := os.Truncate(p, 1000); err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	defer s.Close()

	dry := q.CheckRemove(m.ID, false)
	if dry == nil {
		t.Fatal("the dry run passes a removal the removal refuses")
	}
	if errors.Is(dry, ErrShadowCopy) || strings.Contains(dry.Error(), ErrShadowCopy.Error()) {
		t.Errorf("labelled as a shadow copy, which it is not: %v", dry)
	}
	if !strings.Contains(dry.Error(), "hub-a") || !strings.Contains(dry.Error(), "--force") {
		t.Errorf("the refusal names neither the holder nor --force: %v", dry)
	}
	if err := q.CheckRemove(m.ID, true); err != nil {
		t.Errorf("with --force: %v", err)
	}
	real := q.RemoveMessage(context.Background(), m.ID, false)
	if real == nil || real.Error() != dry.Error() {
		t.Errorf("the removal answers %v; the dry run %v", real, dry)
	}
	if _, err := q.Message(m.ID); err != nil {
		t.Fatalf("the refused removal removed it: %v", err)
	}
	if err := q.RemoveMessageForce(context.Background(), m.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := q.CheckRemove(m.ID, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("a message removed: %v, want ErrNotFound", err)
	}
}
