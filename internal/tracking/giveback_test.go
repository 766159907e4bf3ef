package tracking

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// Copies given back to a returning primary have their own event,
// giveback; a log written before it named them takeover events with a
// "given back to" reply, and reads the same now: `umbra track --event
// giveback` finds both, and --event takeover only real takeovers.
func TestGiveBackEventOldAndNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	old := `{"time":"2026-03-01T12:00:00Z","event":"takeover","msg_id":"0000000000000001","sender":"s@example.org","reply":"given back to hub-b: it answered again with the same transport database"}` + "\n" +
		`{"time":"2026-03-01T12:00:01Z","event":"takeover","msg_id":"0000000000000002","sender":"s@example.org","reply":"hub-b: heartbeats failed"}` + "\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, 1<<20, 5)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 2, 0, time.UTC) }
	l.Event("giveback", &queue.Message{ID: 3, From: "s@example.org"}, nil, "given back to hub-b: it answered again with the same transport database")
	l.Close()
	back, err := Search(path, 5, Query{Events: []string{"giveback"}})
	if err != nil || len(back) != 2 || back[0].ID != queue.ID(1).String() || back[1].ID != queue.ID(3).String() {
		t.Fatalf("giveback events: %+v %v; want the old line and the new one", back, err)
	}
	for _, e := range back {
		if e.Event != "giveback" {
			t.Errorf("entry %s reads as %q, want giveback", e.ID, e.Event)
		}
	}
	taken, err := Search(path, 5, Query{Events: []string{"takeover"}})
	if err != nil || len(taken) != 1 || taken[0].ID != queue.ID(2).String() {
		t.Fatalf("takeover events: %+v %v; want the real takeover only", taken, err)
	}
}
