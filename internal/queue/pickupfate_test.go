package queue

import (
	"context"
	"testing"
	"time"
)

// SR-12: what a database knows of a pickup file's message decides the
// file's fate at a start (package pickup): queued here, its end recorded
// here, or unknown — a new database, an id given to another message
// (ids restart with a database), or an end pruned once its file was gone. Only an end recorded
// for that file's name lets the file go (rt29 pick F1).
func TestPickupFateOfQueuedFile(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	submit := func(conn, name string) ID {
		t.Helper()
		m := msg(s, "app@example.org", "ops@remote.example")
		m.Connector, m.Helo, m.Internal = conn, name, true
		if _, again, err := q.SubmitKeyed(ctx, m, []byte("Subject: x\r\n\r\nhi\r\n"), "pickup:"+name+m.ID.String()); err != nil || again {
			t.Fatalf("submit: again %v, %v", again, err)
		}
		return m.ID
	}
	f1 := submit("pickup", "f1.eml")
	smtp := submit("test", "client.example")
	for _, c := range []struct {
		id   ID
		name string
		want PickupFate
	}{
		{f1, "f1.eml", PickupQueued},
		{f1, "other.eml", PickupUnknown}, // the id is another file's message
		{smtp, "client.example", PickupUnknown},
		{f1 + 1000, "f1.eml", PickupUnknown}, // never issued here
	} {
		if got := q.PickupFate(c.id, c.name); got != c.want {
			t.Errorf("queued: fate of %s %s = %d, want %d", c.id, c.name, got, c.want)
		}
	}
	for _, id := range []ID{f1, smtp} {
		if err := q.RemoveMessage(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := q.PickupFate(f1, "f1.eml"); got != PickupEnded {
		t.Errorf("after its end: fate %d, want ended (%d)", got, PickupEnded)
	}
	if got := q.PickupFate(f1, "other.eml"); got != PickupUnknown {
		t.Errorf("another file of the ended message's id: fate %d, want unknown", got)
	}
	if got := q.PickupFate(smtp, "client.example"); got != PickupUnknown {
		t.Errorf("an ended SMTP message taken for a pickup file: fate %d", got)
	}
	// A new database knows nothing of it.
	if got := NewManager(openTest(t), nil, ManagerConfig{}).PickupFate(f1, "f1.eml"); got != PickupUnknown {
		t.Errorf("a new database: fate %d, want unknown", got)
	}
	// The end outlives the submission keys: it goes only when its file
	// is gone (TestSR12PickupEndKeptWhileItsFileExists).
	if err := s.Update(ctx, func(tx *Tx) error { _, err := tx.PruneSubmitKeys(time.Now().Add(time.Hour), 100); return err }); err != nil {
		t.Fatal(err)
	}
	if got := q.PickupFate(f1, "f1.eml"); got != PickupEnded {
		t.Errorf("after pruning the keys: fate %d, want ended", got)
	}
}
