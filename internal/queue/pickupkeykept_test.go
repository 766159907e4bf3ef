package queue

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-12: an unmarked pickup file NAME.eml (the rename to .queued after
// its commit failed: a read-only pickup directory, a move that hung, a
// crash) is kept from a second submission only by its submission key —
// which the hourly pruning forgot after message_expiration, so that the
// next scan of the file still lying there submitted it again: its
// message twice. A pickup submission's key names its file; it is kept
// past message_expiration while that file (that drop: the same key) may
// still be there, forgotten only when the pickup directory says it is
// gone (ManagerConfig.PickupKeyGone), every one kept without a way to
// look.
func TestSR12PickupSubmitKeyKeptWhileItsFileLingers(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Now())
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour})
	submit := func(key string) (ID, bool) {
		t.Helper()
		m := msg(s, "app@example.org", "ops@remote.example")
		m.Connector, m.Helo, m.Internal = "pickup", "report.eml", true
		prev, again, err := q.SubmitKeyed(ctx, m, []byte("Subject: x\r\n\r\nhi\r\n"), key)
		if err != nil {
			t.Fatal(err)
		}
		if again {
			return prev, true
		}
		return m.ID, false
	}
	id, _ := submit("pickup:lingering")
	// Its message ends (delivered): the record goes; the file stays,
	// unmarked, its directory read-only.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(id) }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(48 * time.Hour)
	q.pruneBacklog(clk.Now())
	if prev, again := submit("pickup:lingering"); !again || prev != id {
		t.Fatalf("the lingering file scanned two days later (message_expiration 1h): submitted again (again %v, prev %v): its message twice", again, prev)
	}

	// With a look at the directory: kept while the file is there,
	// forgotten once it is gone.
	dir := t.TempDir()
	file := filepath.Join(dir, "report.eml")
	os.WriteFile(file, []byte("x"), 0o600)
	var asked []string
	q2 := NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour, PickupKeyGone: func(name, key string) bool {
		asked = append(asked, name+" "+key)
		_, err := os.Lstat(filepath.Join(dir, name))
		return os.IsNotExist(err)
	}})
	clk.Advance(48 * time.Hour)
	prunePickupLooked(t, q2, &q2.pickupKeyPrune, clk.Now())
	if len(asked) == 0 || asked[0] != "report.eml pickup:lingering" {
		t.Errorf("the look asked %q, want report.eml with its key", asked)
	}
	if _, again := submit("pickup:lingering"); !again {
		t.Fatal("the file still there: its key forgotten")
	}
	os.Remove(file)
	prunePickupLooked(t, q2, &q2.pickupKeyPrune, clk.Now())
	if _, again := submit("pickup:lingering"); again {
		t.Error("the file gone: its key kept (the keys would grow without bound)")
	}
}
