package queue

import "testing"

// A peer reached by a host name is found by the database digest it
// advertised among the shadow servers met (their recorded ids), under the
// name their marks are kept by; a new id recorded for that server moves
// the match with it.
func TestShadowHolderByDigest(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, nil, ManagerConfig{})
	for _, h := range [][2]string{{"Hub-P", "db-p"}, {"hub-q", "db-q"}} {
		if _, _, err := q.ShadowHolderSeen(h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	if got := q.ShadowHolderByDigest(DatabaseDigest("db-p")); got != "hub-p" {
		t.Fatalf("digest of db-p: %q, want hub-p", got)
	}
	if got := q.ShadowHolderByDigest(DatabaseDigest("db-x")); got != "" {
		t.Fatalf("digest of an unknown database: %q, want none", got)
	}
	if got := q.ShadowHolderByDigest(""); got != "" {
		t.Fatalf("no digest: %q, want none", got)
	}
	if _, _, err := q.ShadowHolderSeen("hub-p", "db-p2"); err != nil {
		t.Fatal(err)
	}
	if got := q.ShadowHolderByDigest(DatabaseDigest("db-p")); got != "" {
		t.Fatalf("digest of hub-p's old database: %q, want none", got)
	}
	if got := q.ShadowHolderByDigest(DatabaseDigest("db-p2")); got != "hub-p" {
		t.Fatalf("digest of hub-p's new database: %q, want hub-p", got)
	}
}
