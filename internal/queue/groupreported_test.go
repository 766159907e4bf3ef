package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// groupRecord is a primary's record whose group g@ was expanded here
// into x@ and y@ (their ORCPT names it), with a copy "copy-1" at hub-a
// made before the expansion: the copy holds g@, not its members.
func groupRecord(s *Store) *Message {
	m := msg(s, "s@example.org", "g@c.example", "x@c.example", "y@c.example")
	m.State, m.OrgID, m.ShadowServer, m.ShadowID = Ready, "org-g@example.org", "hub-a", "copy-1"
	m.Rcpts[0].Status = Relayed // expanded
	m.Rcpts[1].ORcpt, m.Rcpts[2].ORcpt = "rfc822;g@c.example", "rfc822;g@c.example"
	return m
}

func partialAddrs(tx *Tx) []string {
	var out []string
	for _, p := range tx.PartialDiscards("hub-a", 100) {
		out = append(out, p.Addr)
	}
	slices.Sort(out)
	return out
}

// One commit fails x@ (its failure DSN reports it) and delivers y@, the
// group's last members: the commit names y@ alone (x@'s DSN is here
// only), and the DSN's departure names x@ and the group, which the copy
// holds — not the full discard alone, which would leave g@ in the copy
// and a takeover delivering to members already finished.
func TestSR13GroupFinishedWithAndWithoutDSNSettledByTheDSN(t *testing.T) {
	s := openTest(t)
	m := groupRecord(s)
	dsn := &Message{ID: s.NewID(time.Now())}
	err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		before := statusesNow(m)
		m.Rcpts[1].Status, m.Rcpts[2].Status = Failed, Delivered
		m.Rcpts = append(m.Rcpts, Recipient{Addr: "z@c.example", Status: Pending}) // keeps the record
		inDSN := map[int]bool{1: true}
		addrs, err := tx.finishedForCopy(m, before, nil, inDSN)
		if err != nil {
			return err
		}
		if !slices.Equal(addrs, []string{"y@c.example"}) {
			t.Errorf("the commit names %q, want y@ alone", addrs)
		}
		if err := tx.noteReportedFor(m, m.ShadowServer, m.ShadowID, before, nil, inDSN, []*Message{dsn}, 0, false); err != nil {
			return err
		}
		if err := tx.Put(m); err != nil {
			return err
		}
		if _, err := tx.releaseReported(dsn.ID, time.Now()); err != nil {
			return err
		}
		if got, want := partialAddrs(tx), []string{"g@c.example", "x@c.example"}; !slices.Equal(got, want) {
			t.Errorf("the DSN's departure names %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A commit fails x@ with a DSN while y@ waits; a later commit delivers
// y@, the last member, while that DSN is still here: the group is not
// named then (a holder taking over would deliver g@ again and x@'s
// failure would be reported from there; named, the DSN would be lost
// with this server), but at the DSN's departure.
func TestSR13GroupNotSettledWhileAnEarlierDSNIsHere(t *testing.T) {
	s := openTest(t)
	m := groupRecord(s)
	dsn := &Message{ID: s.NewID(time.Now())}
	err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		before := statusesNow(m)
		m.Rcpts[1].Status = Failed
		inDSN := map[int]bool{1: true}
		if addrs, err := tx.finishedForCopy(m, before, nil, inDSN); err != nil || len(addrs) != 0 {
			t.Errorf("the first commit names %q (%v), want none", addrs, err)
		}
		if err := tx.noteReportedFor(m, m.ShadowServer, m.ShadowID, before, nil, inDSN, []*Message{dsn}, 0, false); err != nil {
			return err
		}
		if err := tx.Put(m); err != nil {
			return err
		}
		before = statusesNow(m)
		m.Rcpts[2].Status = Delivered
		m.Rcpts = append(m.Rcpts, Recipient{Addr: "z@c.example", Status: Pending})
		before = append(before, Pending)
		addrs, err := tx.finishedForCopy(m, before, nil, nil)
		if err != nil {
			return err
		}
		if !slices.Equal(addrs, []string{"y@c.example"}) {
			t.Errorf("the second commit names %q, want y@ alone: x@'s DSN is still here", addrs)
		}
		if err := tx.Put(m); err != nil {
			return err
		}
		if _, err := tx.releaseReported(dsn.ID, time.Now()); err != nil {
			return err
		}
		if got, want := partialAddrs(tx), []string{"g@c.example", "x@c.example"}; !slices.Equal(got, want) {
			t.Errorf("the DSN's departure names %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The sibling at an operator's removal of a part (settlePart): x@
// failed at an earlier commit and its DSN is still here; removing the
// part with y@, the group's last member pending, names y@ but not the
// group — the DSN's departure does.
func TestSR13RemovedPartSparesTheGroupAnEarlierDSNReports(t *testing.T) {
	s := openTest(t)
	m := groupRecord(s)
	sib := msg(s, "s@example.org", "z@c.example") // another part under the copy: it stays
	sib.State, sib.OrgID, sib.ShadowServer, sib.ShadowID = Ready, m.OrgID, m.ShadowServer, m.ShadowID
	dsn := &Message{ID: s.NewID(time.Now())}
	err := s.Update(context.Background(), func(tx *Tx) error {
		for _, r := range []*Message{m, sib} {
			if err := tx.PutNew(r, []byte(body)); err != nil {
				return err
			}
		}
		before := statusesNow(m)
		m.Rcpts[1].Status = Failed
		inDSN := map[int]bool{1: true}
		if err := tx.noteReportedFor(m, m.ShadowServer, m.ShadowID, before, nil, inDSN, []*Message{dsn}, 0, false); err != nil {
			return err
		}
		if err := tx.Put(m); err != nil {
			return err
		}
		m.Rcpts[2].Status = Failed // the removal takes y@, with no DSN
		if _, err := tx.settleRemovedPart(m, []int{2}, nil, false, time.Now()); err != nil {
			return err
		}
		if got, want := partialAddrs(tx), []string{"y@c.example"}; !slices.Equal(got, want) {
			t.Errorf("the removal names %q, want %q: x@'s DSN is still here", got, want)
		}
		if err := tx.Delete(m.ID); err != nil {
			return err
		}
		if _, err := tx.releaseReported(dsn.ID, time.Now()); err != nil {
			return err
		}
		if got, want := partialAddrs(tx), []string{"g@c.example", "x@c.example", "y@c.example"}; !slices.Equal(got, want) {
			t.Errorf("after the DSN's departure %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
