package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// SR-4/SR-6/SR-13: a primary is one server on its holder whatever
// spelling names it. Here the relay copy is filed under the topology's
// spelling ("Edge.RT.test", from the delivery result) and a copy on
// receipt under the name the primary states ("edge.rt.test"): one
// primary, one shadow queue, one peer record, and a discard stated under
// either spelling settles the copy — else the copy the primary finished
// with stays here, and is taken over and delivered a second time.
func TestSR4DiscardAppliesUnderEveryPrimarySpelling(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Reply: "250 ok",
				Primary: "Edge.RT.test", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b", PrimaryDB: "db1"})
		}
		return out
	})
	q, ctx := startManager(t, s, d, ManagerConfig{Clock: clk})
	m := msg(s, "a@example.org", "x@c.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "edge.rt.test", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	qs, _ := q.Queues()
	var shadowQueues []string
	for _, x := range qs {
		if strings.HasPrefix(x.Name, "shadow:") {
			shadowQueues = append(shadowQueues, x.Name)
		}
	}
	if len(shadowQueues) != 1 {
		t.Errorf("one primary's copies in shadow queues %v; want one queue", shadowQueues)
	}
	if peers, _ := q.ShadowPeers(); len(peers) != 1 {
		t.Errorf("one primary as %d peer records", len(peers))
	}
	if n, err := q.ApplyDiscards("edge.rt.test", []string{m.ID.String() + "-b"}); n != 1 || err != nil {
		t.Errorf("the stated name's discard of the relay copy filed under the topology's spelling: %d applied, %v", n, err)
	}
	if n, err := q.ApplyDiscards("EDGE.RT.TEST.", []string{c.OrgID}); n != 1 || err != nil {
		t.Errorf("a discard under another spelling of the copy on receipt: %d applied, %v", n, err)
	}
	if n, err := q.Takeover("edge.rt.test", "test"); n != 0 || err != nil {
		t.Errorf("takeover after both discards took %d copies (%v): each would be delivered twice", n, err)
	}
}

// SR-13: a database a release before wrote with a primary's copies and
// peer records under two spellings (the relay's copy under the
// topology's, the peer record under each) is folded at open, in one
// commit: one shadow queue, one peer record, the discard under the
// stated name applied, nothing taken over after it.
func TestSR13OpenFoldsPrimarySpellings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived, m.State = clk.Now(), Shadow
	sid := m.ID.String() + "-b"
	m.Rcpts[0] = Recipient{Addr: "x@b.example", Status: Shadowed, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: sid}
	// A poison record keeping a copy too: indexed under poison only.
	pm := msg(s, "a@example.org", "z@b.example")
	pm.Arrived, pm.State = clk.Now(), Poison
	psid := pm.ID.String() + "-b"
	pm.Rcpts[0] = Recipient{Addr: "z@b.example", Status: Shadowed, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: psid}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		if err := tx.PutNew(pm, []byte(body)); err != nil {
			return err
		}
		return tx.PutPeer(&ShadowPeer{Primary: "hub-b", Addr: "127.0.0.2:25", DatabaseID: "db1", LastContact: clk.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	// As a release before kept it: the copy under "Hub-B." (the
	// topology's spelling), a peer record under each spelling.
	if err := s.Update(context.Background(), func(tx *Tx) error {
		// A release before kept no mark of the held records' fold.
		if err := tx.tx.Bucket(bucketMeta).Delete(keyPrimaryNamesDone); err != nil {
			return err
		}
		if err := tx.messages.Put(pm.ID.Key(), func() []byte {
			c := *pm
			c.Rcpts = slices.Clone(pm.Rcpts)
			c.Rcpts[0].Primary = "HUB-B"
			return c.encode()
		}()); err != nil {
			return err
		}
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		if err := tx.unindex(got); err != nil {
			return err
		}
		got.Rcpts[0].Primary = "Hub-B."
		if err := tx.messages.Put(got.ID.Key(), got.encode()); err != nil {
			return err
		}
		for _, name := range QueuesOf(got) {
			if err := tx.qidx.Put(queueKey(name, got.ID), []byte{byte(got.State)}); err != nil {
				return err
			}
		}
		p, err := tx.Peer("hub-b")
		if err != nil || p == nil {
			return fmt.Errorf("peer %v %v", p, err)
		}
		return tx.tx.Bucket(bucketPeers).Put([]byte("Hub-B."), p.encode())
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q2, _ := startManager(t, s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }), ManagerConfig{Clock: clk})
	qs, _ := q2.Queues()
	var names []string
	for _, x := range qs {
		if x.Name != QueuePoison {
			names = append(names, x.Name)
		}
	}
	if len(names) != 1 || names[0] != "shadow:hub-b" {
		t.Errorf("queues after the fold at open: %v; want [shadow:hub-b]", names)
	}
	if peers, _ := q2.ShadowPeers(); len(peers) != 1 || peers[0].Primary != "hub-b" {
		t.Errorf("peer records after the fold at open: %+v", peers)
	}
	if n, err := q2.ApplyDiscards("hub-b", []string{sid}); n != 1 || err != nil {
		t.Fatalf("the stated name's discard after the fold: %d applied, %v", n, err)
	}
	if n, err := q2.ApplyDiscards("hub-b", []string{psid}); n != 1 || err != nil {
		t.Errorf("the stated name's discard of the poison record's copy after the fold: %d applied, %v", n, err)
	}
	if n, err := q2.Takeover("HUB-B", "test"); n != 0 || err != nil {
		t.Errorf("takeover after the discard took %d copies (%v)", n, err)
	}
}
