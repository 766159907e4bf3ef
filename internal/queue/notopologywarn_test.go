package queue

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// rt42b F1: a primary a reload took out of this server's topology, let
// in by its held record (smtp departed.go), presents its database id at
// every session: the WARN that the id is not recorded under a name that
// is no server of the topology comes once per name and id in a process,
// not at every heartbeat.
func TestIDOfNameOutOfTopologyWarnedOncePerNameAndID(t *testing.T) {
	s := openTest(t)
	var logged bytes.Buffer
	q := NewManager(s, DelivererFunc(nil), ManagerConfig{RetrySchedule: []time.Duration{time.Hour},
		Log: slog.New(slog.NewTextHandler(&logged, nil))})
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"})
	for range 5 {
		if _, _, err := q.ShadowHolderSeenStated("hub-c", "", "db-c"); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logged.String(), "the name is no server of the topology"); n != 1 {
		t.Fatalf("%d WARN lines for five sessions of hub-c with db-c, want 1:\n%s", n, logged.String())
	}
	if _, _, err := q.ShadowHolderSeenStated("hub-c", "", "db-c2"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logged.String(), "the name is no server of the topology"); n != 2 {
		t.Fatalf("another id of hub-c: %d WARN lines in all, want 2", n)
	}
	if id, _ := q.ShadowHolderID("hub-c"); id != "" {
		t.Errorf("hub-c's id %q recorded, want none (the topology names no hub-c)", id)
	}
}
