package queue

import (
	"bytes"
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SR-4, SR-7: every record that names the holder of a copy by the alias
// spelling hub-b.example. of z's database (the copies are on z) names
// z after the fold, in Open's transaction, and a second Open changes
// nothing:
//   - a push on receipt in flight (receiptpush): Recover marks the
//     message held by this server only with z as a server that may hold
//     the copy (it skipped the note, naming another holder than the
//     record, and the copy stayed unmarked);
//   - a single-copy mark whose copy on the spelling was lost and whose
//     copy made again in delivery is held there (heldPrefix): that
//     holder's discard goes to z;
//   - a recipient finished here, handed on: the same copy coming back
//     from z is still dropped;
//   - a damaged record given to its copy's holder: still given to z
//     (its head keeps the spelling as found), not dropped as stale at
//     z's query, remove without --force still refused, and z's
//     question about it (XQUERYHELD) not answered done.
func TestSR7FoldedAliasEveryHolderRecordNamesTheCopysServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rcpt := func(a string) []Recipient { return []Recipient{{Addr: a, Status: Pending}} }
	pushed := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "copy-p",
		ShadowServer: "hub-b.example.", ShadowID: "copy-p", NextAttempt: now.Add(24 * time.Hour), Rcpts: rcpt("p@example.net")}
	marked := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "copy-m",
		ShadowServer: "hub-b.example.", ShadowID: "copy-m", NextAttempt: now.Add(24 * time.Hour), Rcpts: rcpt("m@example.net")}
	dmg := &Message{ID: s.NewID(now), State: Poison, From: "a@example.org", OrgID: "copy-d",
		ShadowServer: "hub-b.example.", ShadowID: "copy-d", LastError: "body unreadable: test",
		Rcpts: []Recipient{{Addr: "d@example.net", Status: Pending}, {Addr: "e@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, m := range []*Message{pushed, marked, dmg} {
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		if err := tx.tx.Bucket(bucketPushing).Put(pushed.ID.Key(), []byte("hub-b.example.")); err != nil {
			return err
		}
		if err := tx.markSingleHow(marked.ID, "hub-b.example.", HowHeld, now); err != nil {
			return err
		}
		if err := tx.addHeld(marked.ID, "hub-b.example."); err != nil {
			return err
		}
		// finished: at ‖ flags ‖ server ‖ 0 ‖ copy id, as a release
		// before wrote it (lower case)
		v := append([]byte(be8(uint64(now.UnixNano()))), finishedExact|finishedHandedOn)
		v = append(append(append(v, "hub-b.example."...), 0), "copy-f"...)
		if err := tx.tx.Bucket(bucketFinished).Put(finishedKey("copy-f", "f@example.net"), v); err != nil {
			return err
		}
		raw := tx.RawRecord(dmg.ID)
		copy(raw[len(raw)-12:], bytes.Repeat([]byte{0xff}, 12)) // its last recipient's fields
		if err := tx.messages.Put(dmg.ID.Key(), raw); err != nil {
			return err
		}
		d, err := tx.setAsideOne(dmg.ID, now)
		if err != nil || d.GivenTo == "" {
			t.Fatalf("set aside: %+v %v; want given to its copy's holder", d, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// What a release before kept: every key lower-cased, the alias of
	// db-z under the dotted spelling, the hand-back under it.
	if err := s.db.Update(func(btx *bolt.Tx) error {
		hb := btx.Bucket(bucketHandBack)
		v := bytes.Clone(hb.Get(handBackKey("hub-b.example.", "copy-d")))
		if v == nil {
			t.Fatal("no hand-back entry for the damaged record")
		}
		if err := hb.Delete(handBackKey("hub-b.example.", "copy-d")); err != nil {
			return err
		}
		for _, kv := range [][3]any{
			{bucketHolders, "hub-b.example", "db-b"},
			{bucketHolders, "z.example", "db-z"},
			{bucketHolderMarks, "\x01hub-b.example.", "db-z"},
			{bucketHandBack, "hub-b.example.\x00copy-d", string(v)},
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
	var first map[string]string
	for i := 0; i < 2; i++ {
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := dumpNamedBuckets(t, s, bucketPushing, bucketSingle, bucketFinished, bucketDamaged, bucketHandBack, bucketMessages)
		if i == 0 {
			first = got
		} else if !maps.Equal(first, got) {
			t.Errorf("a second Open changed the folded records:\nfirst  %q\nsecond %q", first, got)
		}
		s.Close()
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, ctx := newPeerDBManagerOf(t, s, spellingsTopo())
	_ = s.View(func(tx *Tx) error {
		if v := string(tx.tx.Bucket(bucketPushing).Get(pushed.ID.Key())); !sameServer(v, "z.example") {
			t.Errorf("the push in flight names %q after the fold; want z.example", v)
		}
		v := tx.tx.Bucket(bucketSingle).Get(marked.ID.Key())
		if lost, _, _, _ := singleMark(v); !sameServer(lost, "z.example") || !sameServer(singleHeld(v), "z.example") || singleHow(v) != HowHeld {
			t.Errorf("the mark after the fold: lost on %q, held by %q, how %q; want z.example twice, how held", lost, singleHeld(v), singleHow(v))
		}
		back := &Message{OrgID: "copy-f", ShadowServer: "z.example", ShadowID: "copy-f"}
		if !tx.finishedDone(back, Recipient{Addr: "f@example.net"}, newCaseTwins(nil)) {
			t.Error("the copy coming back from z after the fold: its recipient handed on from here is not dropped")
		}
		d, ok := tx.Damaged(dmg.ID)
		if !ok || !sameServer(d.GivenTo, "z.example") {
			t.Errorf("the damaged record after the fold: given to %q; want z.example", d.GivenTo)
		}
		if raw := tx.tx.Bucket(bucketDamaged).Get(dmg.ID.Key()); !bytes.Contains(raw, []byte("hub-b.example.")) {
			t.Error("the damaged record's bytes changed: they stay as found")
		}
		return nil
	})
	if err := q.RemoveMessage(ctx, dmg.ID, false); err == nil || !strings.Contains(err.Error(), "z.example") {
		t.Errorf("remove of the damaged record without --force: %v; want refused, naming z.example", err)
	}
	if done, err := q.ShadowHeld("z.example", []string{"copy-d"}); err != nil || len(done) != 0 {
		t.Errorf("z's question about copy-d after the fold: done %q, %v; want none done (the damaged record still needs it)", done, err)
	}
	if lines, _ := q.DiscardsHandBack("z.example", 10); !slices.Contains(lines, "copy-d"+HandBackSuffix) {
		t.Errorf("z's query after the fold: %q; want the damaged record's copy-d given", lines)
	}
	if _, ok := q.damagedRecord(dmg.ID); !ok {
		t.Error("the damaged record went before z acknowledged")
	}
	// Recover: the push in flight is asked of z (rt47 F2).
	if err := s.Update(context.Background(), func(tx *Tx) error {
		n, err := markCutPushesTx(tx, now)
		if n != 1 {
			t.Errorf("pushes asked of at Recover: %d; want 1", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Tx) error {
		if p, ok := tx.pushAsked(pushed.ID); !ok || !sameServer(p, "z.example") {
			t.Errorf("the push cut short after the fold: asked %v, of %q; want z.example", ok, p)
		}
		return nil
	})
}

// dumpNamedBuckets is every key and value of the named buckets of s.
func dumpNamedBuckets(t *testing.T, s *Store, names ...[]byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = s.View(func(tx *Tx) error {
		for _, n := range names {
			b := tx.tx.Bucket(n)
			if b == nil {
				continue
			}
			_ = b.ForEach(func(k, v []byte) error {
				out[string(n)+"/"+string(k)] = string(v)
				return nil
			})
		}
		return nil
	})
	return out
}

// SR-7 (a sibling: names compared by spelling): a poison message whose
// record names its copy's holder as "Hub-B.Example." is given to it; the
// holder asks as hub-b.example (one server, sameServer) and
// acknowledges. The acknowledgement compared the record's name with the
// asking one exactly: the record stayed here as poison, although the
// holder had taken its copy over and delivers it.
func TestSR7GivenBackAcknowledgedUnderAnotherSpelling(t *testing.T) {
	s := openTest(t)
	q, _ := newPeerDBManagerOf(t, s, spellingsTopo())
	m := &Message{ID: s.NewID(time.Now()), State: Poison, From: "a@example.org", OrgID: "copy-s",
		ShadowServer: "Hub-B.Example.", ShadowID: "copy-s", LastError: "body unreadable: test",
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		holder, err := tx.handBackTx(m, time.Now())
		if holder == "" && err == nil {
			t.Fatal("not given to its copy's holder")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lines, ack := q.DiscardsHandBack("hub-b.example", 10)
	if !slices.Contains(lines, "copy-s"+HandBackSuffix) {
		t.Fatalf("the holder's query: %q; want copy-s given", lines)
	}
	ack()
	if got, err := q.Message(m.ID); err == nil {
		t.Errorf("after the holder's acknowledgement the record is still here: %s", got.State)
	}
}
