package queue

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Copies an original carries (carried.go) keyed by their holder's one
// name (SR-3, SR-7, SR-15): the holder's question about the copy
// (XQUERYHELD) is answered held while the original is here, whatever
// spelling named the holder when the copy was relayed, when it asks, or
// in a release before; and the original's end owes the copy's discard to
// the server that holds it. Answered done, the copy goes while the
// message is on this disk alone.

// carriedFixture opens a database at path holding a queued original
// (org id org-o, its own copy on hub-a.example) and, written as a release
// before wrote them (the server spelt as given), the keys of
// carriedcopies for each (server, copy id, address) of entries; recs are
// further (bucket, key, value) entries. The store is closed.
func carriedFixture(t *testing.T, path string, entries, recs [][3]string) ID {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	o := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "org-o",
		ShadowServer: "hub-a.example", ShadowID: "org-o", NextAttempt: now.Add(24 * time.Hour),
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}, {Addr: "c@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Put(o) }); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketCarried)
		for _, e := range entries {
			ok := append(append(append(append([]byte{'o'}, o.ID.Key()...), e[0]...), 0), e[1]...)
			pairs, _ := decodeCarried(b.Get(ok))
			if err := b.Put(ok, encodeCarried(append(pairs, carriedPair{e[2], e[2]}))); err != nil {
				return err
			}
			sk := append(append(append(append(append([]byte{'s'}, e[0]...), 0), e[1]...), 0), o.ID.Key()...)
			if err := b.Put(sk, nil); err != nil {
				return err
			}
		}
		for _, r := range recs {
			if err := btx.Bucket([]byte(r[0])).Put([]byte(r[1]), []byte(r[2])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// SR-7: an original carries copy-x, relayed from the holder a release
// before filed under the alias spelling hub-b.example. of z's database
// (the copy is on z). The fold points the records and notes naming the
// spelling at z; the carried entry too: z's question about copy-x is not
// answered done while the original is here, and the original's end owes
// copy-x's discard to z, not to hub-b.example (another server, which
// holds no such copy).
func TestSR7FoldedAliasCarriedCopyStaysItsServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	id := carriedFixture(t, path, [][3]string{{"hub-b.example.", "copy-x", "b@example.net"}}, [][3]string{
		{string(bucketHolders), "hub-b.example", "db-b"},
		{string(bucketHolders), "z.example", "db-z"},
		{string(bucketHolderMarks), "\x01hub-b.example.", "db-z"},
	})
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	if done, err := q.ShadowHeld("z.example", []string{"copy-x"}); err != nil || len(done) != 0 {
		t.Errorf("z's question about copy-x after the fold: done %q, %v; want none done (the original here still carries it)", done, err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(id) }); err != nil {
		t.Fatal(err)
	}
	if owed := discardsOwed(t, s, "z.example"); !slices.Contains(owed, "copy-x") {
		t.Errorf("z is owed %v after the original's end; want copy-x's discard (hub-b.example is owed %v)", owed, discardsOwed(t, s, "hub-b.example"))
	}
	if owed := discardsOwed(t, s, "hub-b.example"); slices.Contains(owed, "copy-x") {
		t.Errorf("hub-b.example is owed copy-x's discard; it holds no such copy")
	}
}

// SR-3, SR-15: a copy relayed here in a session whose holder stated its
// name as Hub-B.Example. is carried by the original: the holder asking
// as hub-b.example is told it is held, and another record here naming
// the same copy under the topology's spelling does not write its
// discard at its end while the original still carries it.
func TestSR15CarriedCopyHeldUnderEverySpelling(t *testing.T) {
	s := openTest(t)
	now := time.Now()
	o := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "org-o",
		ShadowServer: "hub-a.example", ShadowID: "org-o", NextAttempt: now.Add(24 * time.Hour),
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}}}
	sib := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "org-x",
		ShadowServer: "hub-b.example", ShadowID: "copy-x", NextAttempt: now.Add(24 * time.Hour),
		Rcpts: []Recipient{{Addr: "d@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, m := range []*Message{o, sib} {
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return tx.carryCopy(o.ID, "Hub-B.Example.", "copy-x", "b@example.net", "B@Example.Net")
	}); err != nil {
		t.Fatal(err)
	}
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(sib.ID) }); err != nil {
		t.Fatal(err)
	}
	if owed := discardsOwed(t, s, "hub-b.example"); slices.Contains(owed, "copy-x") {
		t.Errorf("copy-x's discard owed at the end of another record naming it, while the original still carries it")
	}
	for _, asker := range []string{"hub-b.example", "HUB-B.example.", "Hub-B.Example."} {
		if done, err := q.ShadowHeld(asker, []string{"copy-x"}); err != nil || len(done) != 0 {
			t.Errorf("%s asks about copy-x: done %q, %v; want none done (the original here carries it)", asker, done, err)
		}
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(o.ID) }); err != nil {
		t.Fatal(err)
	}
	if owed := discardsOwed(t, s, "hub-b.example"); !slices.Contains(owed, "copy-x") {
		t.Errorf("hub-b.example is owed %v after the original's end; want copy-x's discard", owed)
	}
}

// SR-7: entries of carriedcopies a release before keyed by the name as
// the session stated it are folded at Open: two spellings of one holder
// for one copy are one entry carrying the recipients of both; the
// holder's question finds the copy held, and settling one recipient
// leaves the other carried.
func TestSR7CarriedCopiesFoldedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	id := carriedFixture(t, path, [][3]string{
		{"Hub-B.Example.", "copy-x", "b@example.net"},
		{"hub-b.example.", "copy-x", "c@example.net"},
	}, nil)
	for range 2 { // a second Open finds nothing to change
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		_ = s.View(func(tx *Tx) error {
			return tx.tx.Bucket(bucketCarried).ForEach(func(k, v []byte) error {
				keys = append(keys, string(k))
				if k[0] == 'o' {
					if pairs, whole := decodeCarried(v); whole || len(pairs) != 2 {
						t.Errorf("folded entry carries %v (whole %v); want both recipients", pairs, whole)
					}
				}
				return nil
			})
		})
		if len(keys) != 2 || !strings.Contains(keys[0], "hub-b.example\x00copy-x") || !strings.Contains(keys[1], "hub-b.example\x00copy-x") {
			t.Errorf("carried keys after the fold: %q; want one 'o' and one 's' key under hub-b.example", keys)
		}
		s.Close()
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	if done, err := q.ShadowHeld("hub-b.example", []string{"copy-x"}); err != nil || len(done) != 0 {
		t.Errorf("hub-b.example asks about copy-x: done %q, %v; want none done", done, err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		m, err := tx.Get(id)
		if err != nil {
			return err
		}
		m.Rcpts[0].Status = Delivered
		return tx.Put(m)
	}); err != nil {
		t.Fatal(err)
	}
	if owed := discardsOwed(t, s, "hub-b.example"); slices.Contains(owed, "copy-x") {
		t.Errorf("copy-x's full discard owed while c@example.net is still carried")
	}
	if done, _ := q.ShadowHeld("hub-b.example", []string{"copy-x"}); len(done) != 0 {
		t.Errorf("copy-x answered done while c@example.net is still carried")
	}
}
