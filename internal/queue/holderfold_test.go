package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/mailaddr"
)

// foldTopo is a topology of servers at one address each that looks a
// name up as the topology does: by mailaddr.NameKey.
type foldTopo map[string]string

func (t foldTopo) ServerAtHostPort(name, hostport string) (bool, bool) {
	a, ok := t[mailaddr.NameKey(name)]
	host, _, err := net.SplitHostPort(hostport)
	return ok, ok && err == nil && a == host
}

func spellingsTopo() foldTopo {
	return foldTopo{"hub-a.example": "127.0.0.130", "hub-b.example": "127.0.0.131", "xn--bcher-kva.example": "127.0.0.132"}
}

// Holder names folded one way (SR-7, SR-13): a shadow server's records
// here — its database id, its rollback counter, the name it stated, the
// discard notifications owed to it — are kept under mailaddr.NameKey of
// its name, the key the topology folds server names by. Keyed by lower
// case only, a holder that states its name with a final dot, or its
// internationalised label in the other form (U-label, A-label), was a
// second holder: its database id refused as the first spelling's
// (another server's database), its counter started again from 0, and
// the notifications filed under one spelling never reached a session
// asking as the other.

// holderSpellings are pairs of spellings of one server name.
var holderSpellings = [][2]string{
	{"hub-b.example", "HUB-B.example."},
	{"bücher.example", "xn--bcher-kva.example"},
	{"xn--bcher-kva.example.", "Bücher.example"},
}

func TestHolderSpellingsAreOneHolder(t *testing.T) {
	for _, sp := range holderSpellings {
		t.Run(sp[0]+"|"+sp[1], func(t *testing.T) {
			s := openTest(t)
			q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
			if _, _, err := q.ShadowHolderSeen(sp[0], "db-b"); err != nil {
				t.Fatal(err)
			}
			lost, old, err := q.ShadowHolderSeen(sp[1], "db-b")
			var other *DatabaseOfAnotherError
			if errors.As(err, &other) || err != nil || lost != 0 || old != "" {
				t.Fatalf("%s presenting the id recorded as %s's: lost %d, old %q, %v; want the same holder", sp[1], sp[0], lost, old, err)
			}
			if id, err := q.ShadowHolderID(sp[1]); err != nil || id != "db-b" {
				t.Fatalf("%s's stored id %q, %v; want db-b", sp[1], id, err)
			}
			var n int
			_ = s.View(func(tx *Tx) error { n = tx.tx.Bucket(bucketHolders).Stats().KeyN; return nil })
			if n != 1 {
				t.Fatalf("%d holder records for one server; want 1", n)
			}
		})
	}
}

func TestHolderMarkAndDiscardsFoldSpellings(t *testing.T) {
	for _, sp := range holderSpellings {
		t.Run(sp[0]+"|"+sp[1], func(t *testing.T) {
			s := openTest(t)
			q, ctx := newPeerDBManagerOf(t, s, spellingsTopo())
			now := time.Now()
			if err := s.Update(ctx, func(tx *Tx) error {
				for range 3 {
					if _, err := tx.bumpHolderMark(sp[0]); err != nil {
						return err
					}
				}
				if err := tx.AddDiscard(sp[0], "copy-1", now); err != nil {
					return err
				}
				return tx.AddPartialDiscard(sp[0], "copy-2", []string{"y@b.example"}, now)
			}); err != nil {
				t.Fatal(err)
			}
			if n := q.ShadowHolderMark(sp[1]); n != 3 {
				t.Fatalf("counter presented to %s: %d; want 3 (raised under %s)", sp[1], n, sp[0])
			}
			lines, _ := q.Discards(sp[1], 10)
			if !slices.Equal(lines, []string{"copy-1"}) {
				t.Fatalf("discards owed to %s: %q; want copy-1 (filed under %s)", sp[1], lines, sp[0])
			}
			part, _ := q.DiscardsPartial(sp[1], 10)
			if len(part) != 2 {
				t.Fatalf("notifications (full and partial) owed to %s: %q; want 2", sp[1], part)
			}
			owed, err := q.OwedDiscardServers()
			if err != nil || len(owed) != 1 {
				t.Fatalf("servers owed discards: %q, %v; want one", owed, err)
			}
		})
	}
}

// A database written by a release that keyed holder records by lower
// case keeps one record per spelling; the open folds them into one, in
// its one transaction, merging what each bucket means: the highest
// counter, one database id, every notification owed.
func TestHolderRecordsFoldedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(b *bolt.Bucket, k, v string) error { return b.Put([]byte(k), []byte(v)) }
	mark := func(n uint64) string {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], n)
		return string(v[:])
	}
	stamp := func(n int64) string { return mark(uint64(n)) }
	if err := s.db.Update(func(btx *bolt.Tx) error {
		h := btx.Bucket(bucketHolders)
		m := btx.Bucket(bucketHolderMarks)
		d := btx.Bucket(bucketDiscards)
		p := btx.Bucket(bucketPartial)
		e := btx.Bucket(bucketEarly)
		st := btx.Bucket(bucketHolderStated)
		for _, err := range []error{
			put(h, "hub-b.example.", "db-b"),
			put(h, "bücher.example", "db-u"),
			put(h, "xn--bcher-kva.example", "db-u"),
			put(st, "hub-b.example.", "hub-b.example."),
			put(m, "hub-c.example.", mark(7)),
			put(m, "hub-c.example", mark(4)),
			put(m, "\x01hub-d.example.", "db-b"),
			put(d, "HUB-B.example\x00copy-1", stamp(10)),
			put(d, "hub-b.example.\x00copy-2", stamp(11)),
			put(d, "hub-b.example.\x00copy-1", stamp(12)),
			put(p, "Bücher.example\x00copy-3\x00y@b.example", stamp(13)),
			put(e, "HUB-E.example.\x00copy-4", stamp(14)+mark(2)+"db-e"),
			put(btx.Bucket(bucketDropped), "hub-e.example.\x00copy-5", stamp(15)),
		} {
			if err != nil {
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
	keys := func(b []byte) (out []string) {
		_ = s.View(func(tx *Tx) error {
			return tx.tx.Bucket(b).ForEach(func(k, v []byte) error { out = append(out, string(k)); return nil })
		})
		return out
	}
	if got, want := keys(bucketHolders), []string{"hub-b.example", "xn--bcher-kva.example"}; !slices.Equal(got, want) {
		t.Fatalf("holder records after open: %q; want %q", got, want)
	}
	if got, want := keys(bucketHolderStated), []string{"hub-b.example"}; !slices.Equal(got, want) {
		t.Fatalf("stated names after open: %q; want %q", got, want)
	}
	if got, want := keys(bucketDiscards), []string{"hub-b.example\x00copy-1", "hub-b.example\x00copy-2"}; !slices.Equal(got, want) {
		t.Fatalf("discards after open: %q; want %q", got, want)
	}
	if got, want := keys(bucketPartial), []string{"xn--bcher-kva.example\x00copy-3\x00y@b.example"}; !slices.Equal(got, want) {
		t.Fatalf("partial discards after open: %q; want %q", got, want)
	}
	if got, want := keys(bucketEarly), []string{"hub-e.example\x00copy-4"}; !slices.Equal(got, want) {
		t.Fatalf("early discards after open: %q; want %q", got, want)
	}
	if got, want := keys(bucketDropped), []string{"hub-e.example\x00copy-5"}; !slices.Equal(got, want) {
		t.Fatalf("dropped copies after open: %q; want %q", got, want)
	}
	_ = s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketDiscards).Get([]byte("hub-b.example\x00copy-1")); string(v) != stamp(12) {
			t.Errorf("copy-1's notification stamp %x; want the later one", v)
		}
		if _, n := tx.holderMarkTx("hub-c.example"); n != 7 {
			t.Errorf("hub-c's counter %d; want the highest, 7", n)
		}
		if a := tx.holderAliasTx("hub-d.example"); a != "db-b" {
			t.Errorf("hub-d's alias %q; want db-b", a)
		}
		if tx.tx.Bucket(bucketHolderMarks).Stats().KeyN != 2 {
			t.Errorf("holder marks: %d keys; want 2 (one per name)", tx.tx.Bucket(bucketHolderMarks).Stats().KeyN)
		}
		return nil
	})
}

func newPeerDBManagerOf(tb testing.TB, s *Store, d Servers) (*Manager, context.Context) {
	tb.Helper()
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(func() { cancel(); q.Wait() })
	q.SetServers(d)
	q.Start(ctx)
	return q, ctx
}

// A primary kept under two spellings by a release before (its push
// sessions' name, the topology's) — one record of its old database, one
// of the database it runs now. A mark it presents under a third spelling
// with its database id is recorded against the record of that database
// (SR-13, rollback marks): the record read for it was the last spelling
// in key order, of the old database, and the mark was dropped as a new
// database's — the floor stayed below what this server saw.
func TestPeerSpellingPrefersPresentedDatabase(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManagerOf(t, s, spellingsTopo())
	now := time.Now()
	if err := s.Update(ctx, func(tx *Tx) error {
		// Written as that release did (PutPeer folds the name now), and
		// folded as the open does (primaryfold.go): one record, the
		// later contact's.
		b := tx.tx.Bucket(bucketPeers)
		if err := b.Put([]byte("HUB-B.example."), (&ShadowPeer{Addr: "127.0.0.131:25", DatabaseID: "db-b", LastContact: now}).encode()); err != nil {
			return err
		}
		if err := b.Put([]byte("hub-b.example"), (&ShadowPeer{Addr: "127.0.0.131:25", DatabaseID: "db-old", LastContact: now.Add(-time.Hour)}).encode()); err != nil {
			return err
		}
		return foldPrimaryNames(tx.tx)
	}); err != nil {
		t.Fatal(err)
	}
	if rolled, _, err := q.ShadowMarkSeen("Hub-B.Example.", "db-b", 5, MarkFloor{}); err != nil || rolled {
		t.Fatalf("mark presented: rolled back %v, %v", rolled, err)
	}
	if f := q.ShadowMarkFloor("hub-b.example"); f != (MarkFloor{Mark: 5, DB: "db-b"}) {
		t.Fatalf("floor after the presentation: %+v; want mark 5 of db-b", f)
	}
}

// rt17e-F1, SR-7: the index of database ids (peerdbs) keeps the entries
// a release before wrote under a holder's spelling (a final dot, an
// IDN form), never rewritten. A session of that holder under another
// spelling presenting its own id is the same server, not refused as
// another server's database.
func TestHolderIndexEntryOfAnotherSpellingIsTheSameServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		if err := btx.Bucket(bucketHolders).Put([]byte("bücher.example."), []byte("db-u")); err != nil {
			return err
		}
		return btx.Bucket(bucketPeerDBs).Put([]byte("db-u\x00bücher.example."), []byte{})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	for _, name := range []string{"xn--bcher-kva.example", "Bücher.example"} {
		if other, err := q.ShadowDatabaseOfAnother(name, "db-u"); err != nil || other != "" {
			t.Fatalf("%s presenting its own id: another server's (%q), %v; want its own", name, other, err)
		}
		if lost, _, err := q.ShadowHolderSeen(name, "db-u"); err != nil || lost != 0 {
			t.Fatalf("%s met with its own id: lost %d, %v", name, lost, err)
		}
	}
}
