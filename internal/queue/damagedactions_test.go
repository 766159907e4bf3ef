package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// OPS-5 (rt25c F4): every action by id on a damaged (set-aside) record
// other than export and remove is refused as such (ErrDamagedRecord,
// exit 1), never "no such message" (exit 3) while show and list show
// it: retry said so.
func TestDamagedRecordActionsByIDAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 3)
	bad := ids[1]
	off, rec := recordOffset(t, s, bad)
	s.Close()
	damageInFile(t, path, off, rec)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.0.0 later" }), ManagerConfig{Hostname: "mx.test"})
	ctx := context.Background()
	// Selected as list selects it: by its state and by its queue.
	for _, f := range []MessageFilter{{State: "damaged"}, {Queue: QueueDamaged}, {}} {
		got, err := q.MessageIDs(f)
		found := false
		for _, id := range got {
			found = found || id == bad
		}
		if err != nil || !found {
			t.Errorf("selection %+v: %v %v, want it to hold the damaged %s", f, got, err, bad)
		}
	}
	for name, act := range map[string]func() error{
		"retry":   func() error { return q.RetryMessage(ctx, bad) },
		"suspend": func() error { return q.SuspendMessage(ctx, bad) },
		"resume":  func() error { return q.ResumeMessage(ctx, bad) },
	} {
		if err := act(); !errors.Is(err, ErrDamagedRecord) || errors.Is(err, ErrNotFound) {
			t.Errorf("message %s of a damaged record: %v, want ErrDamagedRecord", name, err)
		}
	}
}
