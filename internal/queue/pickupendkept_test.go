package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-12: a crash between a pickup message's end and its file's removal
// leaves NAME.<id>.queued behind; a downtime longer than
// message_expiration then used to prune the recorded end with the
// submission keys, and the start after it submitted the file again — a
// second delivery of a message that ended. The end is kept as long as its
// file may still exist: the pruner forgets it only when the file is gone.
func TestSR12PickupEndKeptWhileItsFileExists(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "queue.db")
	gone := func(id ID, name string) bool {
		_, err := os.Lstat(filepath.Join(dir, strings.TrimSuffix(name, ".eml")+"."+id.String()+".queued"))
		return os.IsNotExist(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{MessageExpiration: time.Hour, PickupFileGone: gone})
	m := msg(s, "app@example.org", "ops@remote.example")
	m.Connector, m.Helo, m.Internal = "pickup", "report.eml", true
	if _, again, err := q.SubmitKeyed(ctx, m, []byte("Subject: x\r\n\r\nhi\r\n"), "pickup:report"); err != nil || again {
		t.Fatalf("submit: again %v, %v", again, err)
	}
	queued := filepath.Join(dir, "report."+m.ID.String()+".queued")
	if err := os.WriteFile(queued, []byte("Subject: x\n\nhi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := q.RemoveMessage(ctx, m.ID, false); err != nil { // the end; the crash comes before the file's removal
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Down for two days (message_expiration one hour), then a start.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := clock.NewFake(time.Now().Add(48 * time.Hour))
	q = NewManager(s, nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour, PickupFileGone: gone})
	q.pruneBacklog(clk.Now())
	if got := q.PickupFate(m.ID, "report.eml"); got != PickupEnded {
		t.Fatalf("after a downtime past message_expiration with %s still there: fate %d, want ended (%d) — the start would submit the file again", filepath.Base(queued), got, PickupEnded)
	}
	// The file gone, the end may go.
	if err := os.Remove(queued); err != nil {
		t.Fatal(err)
	}
	q.pruneBacklog(clk.Now())
	if got := q.PickupFate(m.ID, "report.eml"); got != PickupUnknown {
		t.Errorf("its file gone: fate %d, want the end forgotten (unknown)", got)
	}
	// Without a way to look at the directory, an end is kept.
	q2 := NewManager(openTest(t), nil, ManagerConfig{Clock: clk, MessageExpiration: time.Hour})
	m2 := msg(q2.store, "app@example.org", "ops@remote.example")
	m2.Connector, m2.Helo, m2.Internal = "pickup", "other.eml", true
	if _, _, err := q2.SubmitKeyed(ctx, m2, []byte("Subject: x\r\n\r\nhi\r\n"), "pickup:other"); err != nil {
		t.Fatal(err)
	}
	if err := q2.RemoveMessage(ctx, m2.ID, false); err != nil {
		t.Fatal(err)
	}
	q2.pruneBacklog(clk.Now().Add(48 * time.Hour))
	if got := q2.PickupFate(m2.ID, "other.eml"); got != PickupEnded {
		t.Errorf("no PickupFileGone: fate %d, want the end kept", got)
	}
}
