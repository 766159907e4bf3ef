package queue

import (
	"encoding/binary"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SR-3 (notifications are handed only to the server they belong to): a
// release before kept the dotted spelling of hub-b as an alias of z's
// database (it was dialled there once), while hub-b itself has its own
// recorded id. The fold moved the alias onto hub-b's folded name, so
// hub-b became an alias of z's database, and z's sessions were handed
// the discards owed to hub-b (for copies held in db-b): z acknowledged,
// they were forgotten, and hub-b delivered its copies at their expiry.
func TestSR3FoldedAliasSpellingKeepsAnotherServersDiscards(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		for _, kv := range [][3]any{
			{bucketHolders, "hub-b.example", "db-b"},
			{bucketHolders, "z.example", "db-z"},
			{bucketHolderMarks, "\x01hub-b.example.", "db-z"},
			{bucketDiscards, "hub-b.example\x00copy-b", stamp(1)},
		} {
			if err := btx.Bucket(kv[0].([]byte)).Put([]byte(kv[1].(string)), []byte(kv[2].(string))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Before the fold (the release before): z is owed only what its alias
	// hub-b.example. is owed (nothing), hub-b its own copy-b.
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	topo := spellingsTopo()
	topo["z.example"] = "127.0.0.133"
	q, _ := newPeerDBManagerOf(t, s, topo)
	got, _ := q.Discards("z.example", 10)
	if slices.Contains(got, "copy-b") {
		t.Fatalf("discards handed to z.example after the fold: %q; copy-b is owed to hub-b.example (its copy in db-b), not to z", got)
	}
}

// foldAliasFixture writes, as a release that keyed holder records by
// lower case did, the records of hub-b (its own id db-b) and of its
// dotted spelling kept as an alias of z's database db-z, with what each
// spelling is owed, then opens the file again (the fold).
func foldAliasFixture(t *testing.T, recs [][3]string) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	buckets := map[string][]byte{
		"holders": bucketHolders, "marks": bucketHolderMarks, "discards": bucketDiscards,
		"partial": bucketPartial, "handback": bucketHandBack,
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		for _, r := range recs {
			if err := btx.Bucket(buckets[r[0]]).Put([]byte(r[1]), []byte(r[2])); err != nil {
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
	return s, path
}

// stamp is a notification's stamp n nanoseconds after the tests began:
// recent, never pruned as unfetched for too long.
func stamp(n uint64) string { return be8(uint64(testsBegan.UnixNano()) + n) }

var testsBegan = time.Now()

func be8(n uint64) string {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return string(v[:])
}

// dumpBuckets is every key and value of the holder buckets, for
// comparing a file before and after an open.
func dumpBuckets(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = s.View(func(tx *Tx) error {
		for _, name := range [][]byte{bucketHolders, bucketHolderMarks, bucketDiscards, bucketPartial, bucketHandBack} {
			_ = tx.tx.Bucket(name).ForEach(func(k, v []byte) error {
				out[string(name)+"|"+string(k)] = string(v)
				return nil
			})
		}
		return nil
	})
	return out
}

// SR-3, SR-13: an alias spelling and an own-id spelling of one name. The
// notifications filed under the alias spelling concern copies made in
// the alias's database: they go to the server recorded with it (z),
// which was asked for them before; those filed under the name stay the
// name's; the alias goes, so the name counts on its own database again;
// the alias database's counter starts from no less than the spelling's.
// A second open writes nothing.
func TestSR3FoldAliasSpellingAndOwnIDSpellingOfOneName(t *testing.T) {
	s, path := foldAliasFixture(t, [][3]string{
		{"holders", "hub-b.example", "db-b"},
		{"holders", "z.example", "db-z"},
		{"marks", "\x00db-b", be8(5)},
		{"marks", "\x00db-z", be8(3)},
		{"marks", "\x01hub-b.example.", "db-z"},
		{"marks", "hub-b.example.", be8(8)}, // the spelling's counter, followed while aliased
		{"discards", "hub-b.example\x00copy-b", stamp(1)},
		{"discards", "hub-b.example.\x00copy-z", stamp(2)},
		{"discards", "HUB-B.example.\x00copy-z2", stamp(3)},
		{"discards", "z.example\x00copy-z", stamp(1)}, // the later stamp wins
		{"partial", "hub-b.example.\x00copy-p\x00y@b.example", stamp(4)},
		{"handback", "hub-b.example.\x00copy-h", be8(7) + stamp(9)},
	})
	before := dumpBuckets(t, s)
	s.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := dumpBuckets(t, s); !maps.Equal(before, after) {
		t.Errorf("a second open changed the holder records:\nbefore %q\nafter  %q", before, after)
	}
	topo := spellingsTopo()
	topo["z.example"] = "127.0.0.133"
	q, _ := newPeerDBManagerOf(t, s, topo)
	if got, _ := q.Discards("hub-b.example", 10); !slices.Equal(got, []string{"copy-b"}) {
		t.Errorf("discards owed to hub-b: %q; want [copy-b] (its copy in db-b)", got)
	}
	if got, _ := q.Discards("z.example", 10); !slices.Equal(got, []string{"copy-z", "copy-z2"}) {
		t.Errorf("discards owed to z: %q; want [copy-z copy-z2] (copies made in db-z under the alias spelling)", got)
	}
	if got, _ := q.DiscardsPartial("hub-b.example", 10); slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "copy-p") }) {
		t.Errorf("partial discards owed to hub-b: %q; copy-p's copy is in db-z", got)
	}
	if got, _ := q.DiscardsPartial("z.example", 10); !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "copy-p") }) {
		t.Errorf("notifications owed to z: %q; want copy-p's partial one", got)
	}
	_ = s.View(func(tx *Tx) error {
		if a := tx.holderAliasTx("hub-b.example"); a != "" {
			t.Errorf("hub-b is an alias of %q after the fold; want none (its own id db-b)", a)
		}
		if k, n := tx.holderMarkTx("hub-b.example"); string(k) != "\x00db-b" || n != 5 {
			t.Errorf("hub-b counts under %q at %d; want db-b's counter, 5", k, n)
		}
		if _, n := tx.holderMarkTx("z.example"); n < 8 {
			t.Errorf("z's counter %d; want no less than 8, the alias spelling's (copies counted there)", n)
		}
		hb := tx.tx.Bucket(bucketHandBack)
		if hb.Get([]byte("z.example\x00copy-h")) == nil || hb.Get([]byte("hub-b.example\x00copy-h")) != nil {
			t.Errorf("message given back under copy-h: not filed under z, which holds the copy")
		}
		if v := tx.tx.Bucket(bucketDiscards).Get([]byte("z.example\x00copy-z")); string(v) != stamp(2) {
			t.Errorf("copy-z's notification stamp %x; want the later one", v)
		}
		return nil
	})
}

// SR-3: the alias spelling's database is recorded for no server now
// (its server runs another database since: the copies went with it). Its
// notifications are owed to no one holding the copies: they go, and are
// never handed to the name's own server (another database, whose ids
// they are not; a message given back to it would be lost).
func TestSR3FoldAliasOfUnownedDatabaseHandsNothingToTheName(t *testing.T) {
	s, _ := foldAliasFixture(t, [][3]string{
		{"holders", "hub-b.example", "db-b"},
		{"marks", "\x01hub-b.example.", "db-gone"},
		{"discards", "hub-b.example\x00copy-b", stamp(1)},
		{"discards", "hub-b.example.\x00copy-gone", stamp(2)},
		{"handback", "hub-b.example.\x00copy-h", be8(7) + stamp(9)},
	})
	defer s.Close()
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	if got, _ := q.Discards("hub-b.example", 10); !slices.Equal(got, []string{"copy-b"}) {
		t.Errorf("discards owed to hub-b: %q; want [copy-b]", got)
	}
	_ = s.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketHandBack).Get([]byte("hub-b.example\x00copy-h")) != nil {
			t.Errorf("message given back under copy-h filed under hub-b; its copy was not made on hub-b")
		}
		return nil
	})
}

// SR-13 (rollback marks): an alias folded onto a database with no
// counter of its own — counted, as holderMarkTx reads it, from the names
// recorded with it — starts that counter from no less than those names'.
// Written from the alias spelling's counter alone, it went down: the
// database was presented less than it saw, and read this live primary as
// rolled back (its copies taken over: a second delivery).
func TestSR13FoldedAliasNeverLowersItsDatabaseCounter(t *testing.T) {
	s, _ := foldAliasFixture(t, [][3]string{
		{"holders", "hub-b.example", "db-b"},
		{"marks", "hub-b.example", be8(9)},
		{"marks", "\x01hub-d.example.", "db-b"},
		{"marks", "hub-d.example.", be8(3)},
	})
	defer s.Close()
	_ = s.View(func(tx *Tx) error {
		if _, n := tx.holderMarkTx("hub-b.example"); n < 9 {
			t.Errorf("hub-b's counter after the fold %d; want no less than 9, presented before", n)
		}
		if _, n := tx.holderMarkTx("hub-d.example"); n < 9 {
			t.Errorf("hub-d's (an alias of db-b) counter after the fold %d; want no less than 9", n)
		}
		return nil
	})
}

// SR-3: the mirror of the above — the spelling kept as an alias of z's
// database is already the folded one, and the id of its own is another
// spelling's (hub-b.example. met with db-b). Folded onto the name, db-b
// is its own id, and the alias, kept under the key itself, won over it:
// z was handed what is owed for the copies in db-b.
func TestSR3FoldOwnIDOfAnotherSpellingUnderAFoldedAlias(t *testing.T) {
	s, _ := foldAliasFixture(t, [][3]string{
		{"holders", "hub-b.example.", "db-b"},
		{"holders", "z.example", "db-z"},
		{"marks", "\x00db-b", be8(5)},
		{"marks", "\x00db-z", be8(3)},
		{"marks", "\x01hub-b.example", "db-z"},
		{"marks", "hub-b.example", be8(8)},
		{"discards", "hub-b.example.\x00copy-b", stamp(1)},
		{"discards", "hub-b.example\x00copy-z", stamp(2)},
	})
	defer s.Close()
	topo := spellingsTopo()
	topo["z.example"] = "127.0.0.133"
	q, _ := newPeerDBManagerOf(t, s, topo)
	if got, _ := q.Discards("z.example", 10); !slices.Equal(got, []string{"copy-z"}) {
		t.Errorf("discards owed to z: %q; want [copy-z] (copy-b is in db-b)", got)
	}
	if got, _ := q.Discards("hub-b.example", 10); !slices.Equal(got, []string{"copy-b"}) {
		t.Errorf("discards owed to hub-b: %q; want [copy-b]", got)
	}
	_ = s.View(func(tx *Tx) error {
		if a := tx.holderAliasTx("hub-b.example"); a != "" {
			t.Errorf("hub-b is an alias of %q after the fold; want none (its own id db-b)", a)
		}
		if _, n := tx.holderMarkTx("z.example"); n < 8 {
			t.Errorf("z's counter %d; want no less than 8, the alias spelling's", n)
		}
		return nil
	})
}

// A name with an id of its own and an alias under the very same key is
// the state of this release too (its address mistyped to reach another
// server: the alias wins); the fold leaves it as it is.
func TestFoldKeepsAliasOverTheSameSpellingsOwnID(t *testing.T) {
	s, _ := foldAliasFixture(t, [][3]string{
		{"holders", "hub-b.example", "db-b"},
		{"holders", "z.example", "db-z"},
		{"marks", "\x01hub-b.example", "db-z"},
		{"discards", "hub-b.example\x00copy-z", stamp(2)},
	})
	defer s.Close()
	_ = s.View(func(tx *Tx) error {
		if a := tx.holderAliasTx("hub-b.example"); a != "db-z" {
			t.Errorf("hub-b's alias %q after the fold; want db-z, kept", a)
		}
		if tx.tx.Bucket(bucketDiscards).Get([]byte("hub-b.example\x00copy-z")) == nil {
			t.Errorf("copy-z's notification moved; want it kept under hub-b")
		}
		return nil
	})
}
