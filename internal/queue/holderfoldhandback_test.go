package queue

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SR-7: a message held here as poison, whose copy was
// pushed under the dotted spelling hub-b.example. while that spelling was
// an alias of z's database (the copy is on z), was given back
// ("copy-h TAKEOVER" offered, no acknowledgement yet). The fold moves
// the handback entry under z.example, but the record still names
// hub-b.example. as its copy's holder: z's next query finds the entry
// stale (sameServer fails) and drops it unsent, and the operator's
// resume is no longer refused although z may have taken the copy over.
func TestSR7FoldedAliasHandBackStillGivenToItsHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{ID: s.NewID(time.Now()), State: Poison, From: "a@example.org", OrgID: "copy-h",
		ShadowServer: "hub-b.example.", ShadowID: "copy-h", LastError: "body unreadable: test",
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(m) }); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		for _, kv := range [][3]any{
			{bucketHolders, "hub-b.example", "db-b"},
			{bucketHolders, "z.example", "db-z"},
			{bucketHolderMarks, "\x01hub-b.example.", "db-z"},
			{bucketHandBack, "hub-b.example.\x00copy-h", be8(uint64(m.ID)) + stamp(9) + "\x01"}, // offered
		} {
			if err := btx.Bucket(kv[0].([]byte)).Put([]byte(kv[1].(string)), []byte(kv[2].(string))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	topo := spellingsTopo()
	topo["z.example"] = "127.0.0.133"
	q, ctx := newPeerDBManagerOf(t, s, topo)
	_ = s.View(func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.refuseGiven(got); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("resume of a message offered to z (which may have taken its copy over): %v; want refused", err)
		}
		return nil
	})
	lines, _ := q.DiscardsHandBack("z.example", 10)
	if !slices.Contains(lines, "copy-h"+HandBackSuffix) {
		t.Errorf("z's query after the fold: %q; want copy-h offered again (z holds its copy)", lines)
	}
	if err := q.ResumeMessage(ctx, m.ID); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("operator's resume after z's query: %v; want refused (copy-h was offered to z)", err)
	}
}

// SR-7 (a sibling case): the name has
// no database id of its own, and a release before kept two of its
// spellings as aliases of two other servers' databases (hub-b.example of
// p's, hub-b.example. of r's: each dialled there once). The fold keeps
// the alias under the key (db-p) and moves what was filed under the
// dotted spelling (copy-r, a copy made in db-r, on r) onto the name, an
// alias of db-p now: p is handed copy-r's discard, acknowledges it, it is
// forgotten here, and r delivers its copy at its expiry.
func TestSR7FoldTwoAliasSpellingsOfTwoDatabases(t *testing.T) {
	s, _ := foldAliasFixture(t, [][3]string{
		{"holders", "p.example", "db-p"},
		{"holders", "r.example", "db-r"},
		{"marks", "\x01hub-b.example", "db-p"},
		{"marks", "\x01hub-b.example.", "db-r"},
		{"discards", "hub-b.example\x00copy-p", stamp(1)},
		{"discards", "hub-b.example.\x00copy-r", stamp(2)},
	})
	defer s.Close()
	topo := spellingsTopo()
	topo["p.example"] = "127.0.0.134"
	topo["r.example"] = "127.0.0.135"
	q, _ := newPeerDBManagerOf(t, s, topo)
	if got, _ := q.Discards("p.example", 10); slices.Contains(got, "copy-r") {
		t.Errorf("discards handed to p.example after the fold: %q; copy-r's copy is in db-r (r.example)", got)
	}
	if got, _ := q.Discards("r.example", 10); !slices.Contains(got, "copy-r") {
		t.Errorf("discards owed to r.example after the fold: %q; want copy-r (its copy in db-r)", got)
	}
}

// SR-7: the alias's database is the name's own server's,
// recorded under a spelling the holders fold did not keep. A release
// before met bücher's server as bücher.example (db-old, then), as
// xn--bcher-kva.example. (db-b, its database now) and as bücher.example.
// presenting db-b — refused as the other spelling's, kept as an alias.
// The discard of copy-1 (made in db-b under bücher.example.) was asked
// for by the server as xn--bcher-kva.example. (holderNamesTx). The fold
// keeps db-old for the name (first spelling in key order), finds db-b
// recorded for no other name, and drops copy-1's discard: the server,
// which holds copy-1 in db-b, delivers it again at its expiry.
func TestSR7FoldAliasOfTheNamesOwnOtherSpellingKeepsItsDiscards(t *testing.T) {
	s, _ := foldAliasFixture(t, [][3]string{
		{"holders", "bücher.example", "db-old"},
		{"holders", "xn--bcher-kva.example.", "db-b"},
		{"marks", "\x01bücher.example.", "db-b"},
		{"discards", "bücher.example.\x00copy-1", stamp(1)},
	})
	defer s.Close()
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	if got, _ := q.Discards("xn--bcher-kva.example", 10); !slices.Contains(got, "copy-1") {
		t.Errorf("discards owed to bücher's server after the fold: %q; want copy-1 (its copy in db-b, that server's database)", got)
	}
}

// SR-7: a message of this server still to be delivered, whose copy was
// pushed under an alias spelling of z's database (the copy is on z),
// names z as its copy's holder after the fold — its discard goes to the
// server that holds the copy, not to the name's own — and a second open
// changes nothing.
func TestSR7FoldedAliasRecordNamesItsCopysHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{ID: s.NewID(time.Now()), State: Ready, From: "a@example.org", OrgID: "copy-r",
		ShadowServer: "Hub-B.Example.", ShadowID: "copy-r", NextAttempt: time.Unix(1e9, 0),
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(m) }); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		for _, kv := range [][3]any{
			{bucketHolders, "hub-b.example", "db-b"},
			{bucketHolders, "z.example", "db-z"},
			{bucketHolderMarks, "\x01hub-b.example.", "db-z"},
		} {
			if err := btx.Bucket(kv[0].([]byte)).Put([]byte(kv[1].(string)), []byte(kv[2].(string))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for i := 0; i < 2; i++ {
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.View(func(tx *Tx) error {
			got, err := tx.Get(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !sameServer(got.ShadowServer, "z.example") {
				t.Errorf("open %d: copy's holder %q; want z.example (the copy was made in db-z)", i+1, got.ShadowServer)
			}
			return nil
		})
		s.Close()
	}
}
