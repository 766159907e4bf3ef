package queue

import (
	"errors"
	"testing"
)

// SR-7, SR-17 (shadow26): after a copy of hub-b's data dir, on hub-c's
// host and stating hub-c, was refused (dialled here as a shadow server,
// and in a session it opened), the real hub-b's own XSHADOW is let in at
// once — with the id it had, and after a restart with a fresh database
// (SR-7) — without this server dialling it first; and the clone's host,
// once given a fresh database of its own, is let in too. The clone is
// still refused as long as it presents hub-b's id.
func TestSR7RealServerLetInAfterCloneRefused(t *testing.T) {
	s := openTest(t)
	q, _ := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2", "hub-c": "127.0.0.3"}, nil)
	if _, _, err := q.ShadowHolderSeenStated("hub-b", "hub-b", "db-b"); err != nil {
		t.Fatal(err)
	}
	var other *DatabaseOfAnotherError
	if _, _, err := q.ShadowHolderSeenStated("hub-c", "hub-c", "db-b"); !errors.As(err, &other) {
		t.Fatalf("the clone dialled as hub-c presenting hub-b's id: %v, want refused", err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-b"); err != nil || o != "hub-b" {
		t.Fatalf("the clone's own session presenting hub-b's id: %q, %v; want refused as hub-b's", o, err)
	}
	for _, tc := range []struct{ server, db string }{
		{"hub-b", "db-b"},  // the real server, its id as before
		{"hub-b", "db-b2"}, // the real server restarted with a fresh database
		{"hub-c", "db-c2"}, // the clone's host given a database of its own
	} {
		if o, err := q.ShadowDatabaseOfAnother(tc.server, tc.db); err != nil || o != "" {
			t.Errorf("%s presenting %s in its own session before this server dialled it: refused as %q (%v)", tc.server, tc.db, o, err)
		}
		// What that session records of it as a shadow server (smtp
		// holderSeen: it states nothing beyond its server id).
		if _, _, err := q.ShadowHolderSeenStated(tc.server, "", tc.db); err != nil {
			t.Errorf("%s presenting %s in its own session, recorded as a shadow server's: %v", tc.server, tc.db, err)
		}
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-b"); err != nil || o != "hub-b" {
		t.Errorf("the clone presenting hub-b's id again: %q, %v; want refused", o, err)
	}
}
