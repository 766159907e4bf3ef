package queue

import (
	"context"
	"slices"
	"testing"
)

// SR-6, SR-7 (receipt48 item 5): a primary that asks XQUERYKEPT without
// presenting its database id (its XSHADOW without DB=) is taken for the
// database its record here keeps: a copy filed under another name of
// that database is kept. It heard it missing, marked its message rolled
// back on this holder and copied it again — a second copy, delivered
// twice after a takeover. A server presenting another database still
// hears it missing (TestSR15AnotherNameSpeaksOnlyForThePresentedDatabase).
func TestSR6KeptAskedWithoutDatabaseCountsItsOtherNames(t *testing.T) {
	const org = "0123456789abcdef0123456789abcde0"
	_, qS, _, _ := copyUnderRenamedName(t, org, topo{"b2x.sites.test": "127.0.0.203"})
	if missing, err := qS.ShadowKeptMissing("b2.sites.test", "", []string{org}); err != nil || len(missing) != 0 {
		t.Fatalf("b2.sites.test asking without its database id hears the copy filed under b2x.sites.test (its database dbB2) missing: %q (%v)", missing, err)
	}
	if missing, _ := qS.ShadowKeptMissing("b2.sites.test", "dbOther", []string{org}); !slices.Equal(missing, []string{org}) {
		t.Fatalf("b2.sites.test presenting another database hears the copy kept: missing %q", missing)
	}
}

// SR-6, SR-7 (receipt48 item 5): the note of a recipient finished after
// a takeover (takendone) keeps a copy for XQUERYKEPT only for the
// primary whose database it was made under: a shadow id is unique per
// primary only (a relayed copy's "<local id>-…"), and another primary's
// note answered kept a copy this one's holder lost — its message never
// copied again, and lost with this primary. A note of a database the
// index keeps for no name (written before it) counts for any.
func TestSR6KeptTakenDoneNoteCountsForItsPrimaryOnly(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	const sid, legacy = "00000000000000a1-1", "00000000000000a2-1"
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, p := range []*ShadowPeer{{Primary: "hub-a", Addr: "127.0.0.1:25", DatabaseID: "dbA"}, {Primary: "hub-b", Addr: "127.0.0.2:25", DatabaseID: "dbB"}} {
			if err := tx.PutPeer(p); err != nil {
				return err
			}
		}
		b, err := tx.tx.CreateBucketIfNotExists(bucketTakenDone)
		if err != nil {
			return err
		}
		at := []byte{0, 0, 0, 0, 0, 0, 0, 1, TakenDelivered}
		if err := b.Put(takenDoneKey("dbA", sid, "r@x.example"), at); err != nil {
			return err
		}
		return b.Put(takenDoneKey("dbUnindexed", legacy, "r@x.example"), at)
	}); err != nil {
		t.Fatal(err)
	}
	if missing, err := q.ShadowKeptMissing("hub-a", "dbA", []string{sid}); err != nil || len(missing) != 0 {
		t.Fatalf("hub-a hears its own taken-done copy missing: %q (%v)", missing, err)
	}
	if missing, _ := q.ShadowKeptMissing("hub-b", "dbB", []string{sid}); !slices.Equal(missing, []string{sid}) {
		t.Fatalf("hub-b hears hub-a's taken-done note as its copy kept: missing %q", missing)
	}
	if missing, _ := q.ShadowKeptMissing("hub-b", "dbB", []string{legacy}); len(missing) != 0 {
		t.Fatalf("a note of a database no name is indexed for is not counted: missing %q", missing)
	}
}
