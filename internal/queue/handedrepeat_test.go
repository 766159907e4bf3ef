package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// TD-1, SR-6: hub H wrote a message into a shared Maildir store and
// was killed before its commit; S, its shadow server, took its copy
// over and handed it to K, another hub of that store. K finds H's file
// and, where the copy came as one that may repeat a lost write
// (MayRepeat, carried by orgid.RepeatHeader), keeps the copy found and
// its duplicate record, as S would have delivering it itself; H, back,
// drops its original as finished elsewhere, so without this the message
// was in no dumpster. The mark survives in the record (a restart before
// the attempt), and the deliverer sees it (its mailbox search).
func TestHandedOnTakenOverCopyFoundInMailboxKeepsDumpsterCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keeper := &keptCopies{kept: map[ID][]int{}}
	fs := &fileStore{files: map[string]int{}}
	var sawMark atomic.Bool
	seen := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rc []int) []Result {
		if m.MayRepeat {
			sawMark.Store(true)
		}
		return fs.Deliver(ctx, m, b, rc)
	})
	ctx := context.Background()
	m := msg(s, "s@example.org", "alice@example.test", "bob@example.test")
	m.OrgID, m.Arrived, m.MayRepeat = "00112233445566778899aabbccddeeff", clk.Now(), true
	plain := msg(s, "s@example.org", "carol@example.test")
	plain.OrgID, plain.Arrived = "ffeeddccbbaa99887766554433221100", clk.Now()
	q := NewManager(s, seen, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, Dumpster: keeper})
	fs.q = q
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); q.Wait() }()
	q.Start(runCtx)
	for _, x := range []*Message{m, plain} {
		for _, r := range x.Rcpts {
			fs.put(x.OrgID, r.Addr) // in the store already: H's lost write, another hub's delivery
		}
		if err := q.Submit(ctx, x, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both messages finished", func() bool {
		_, e1 := q.Message(m.ID)
		_, e2 := q.Message(plain.ID)
		return e1 == ErrNotFound && e2 == ErrNotFound
	})
	if !sawMark.Load() {
		t.Error("the deliverer did not see the mark (its mailbox search)")
	}
	if got, err := decodeMessage(m.encode()); err != nil || !got.MayRepeat {
		t.Errorf("the record kept MayRepeat: %v, %v", got != nil && got.MayRepeat, err)
	}
	if n := keeper.wait(m.ID, 2); n != 2 {
		t.Errorf("the handed-on copy found in the mailbox kept in the dumpster for %d recipients, want 2", n)
	}
	if n := keeper.of(plain.ID); n != 0 {
		t.Errorf("another hub's delivery, unmarked, kept for %d recipients, want none", n)
	}
	if err := s.View(func(tx *Tx) error {
		for _, a := range []string{"alice@example.test", "bob@example.test"} {
			if !tx.WasDelivered("DB1", m.OrgID, a) {
				t.Errorf("no duplicate record for %s", a)
			}
		}
		if tx.WasDelivered("DB1", plain.OrgID, "carol@example.test") {
			t.Error("a duplicate record for another hub's delivery")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// SR-6, TD-1: the copy a shadow server took over is relayed with the
// mark that it may repeat its primary's lost mailbox write
// (Message.Carried: orgid.RepeatHeader), so the hub it is handed to
// keeps what it finds; a message of this server's own is not marked.
func TestTakenOverCopyRelayedCarriesRepeatMark(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var carried atomic.Int32 // 1: relayed without the mark, 2: with it
	relay := func(m *Message, i int) Result {
		if m.Carried().Repeat {
			carried.Store(2)
		} else {
			carried.CompareAndSwap(0, 1)
		}
		return Result{Rcpt: i, Outcome: RelayedOK, Queue: "site:b", NextHop: "hub-k", Reply: "250 2.0.0 queued"}
	}
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}},
		"00112233445566778899aabbccddeeff", relay, "alice@example.test")
	qS.Kick()
	waitFor(t, "the taken-over copy relayed", func() bool { _, err := qS.Message(c.ID); return err == ErrNotFound })
	if got := carried.Load(); got != 2 {
		t.Errorf("the taken-over copy relayed without the repeat mark (%d)", got)
	}
	own := &Message{OrgID: "ffeeddccbbaa99887766554433221100", Rcpts: []Recipient{{Addr: "x@example.test", Status: Pending}}}
	if own.Carried().Repeat {
		t.Error("a message of this server's own carries the repeat mark")
	}
	own.MayRepeat = true
	if !own.Carried().Repeat {
		t.Error("a message that came marked is relayed without the mark")
	}
}

// TD-1, SR-6: a group recipient of a copy taken over from a primary is
// expanded here; its members are delivered by a later attempt and found
// in the shared mailbox — the primary, which expanded the group itself,
// may have written them and died before its commit. They are the
// taken-over copy's recipients for the dumpster as the group was: the
// copies found are kept.
func TestTakenOverGroupMembersFoundInMailboxKeepDumpsterCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	keeper := &keptCopies{kept: map[ID][]int{}}
	after := func(m *Message, i int) Result {
		if m.Rcpts[i].Addr == "team@example.test" {
			return Result{Rcpt: i, Outcome: Expanded, Expand: []string{"alice@example.test", "bob@example.test"}, Queue: "expansion", Reply: "250 2.1.5 expanded"}
		}
		return Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:MDB01", NextHop: "maildir", Database: "MDB01",
			Duplicate: true, Reply: "250 2.0.0 duplicate suppressed: already in the maildir"}
	}
	qS, sS, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}, Dumpster: keeper},
		"00112233445566778899aabbccddeeff", after, "team@example.test")
	qS.Kick()
	waitFor(t, "the taken-over copy finished", func() bool {
		m, err := qS.Message(c.ID)
		if err == nil && m != nil && m.State != Active && len(m.Pending()) > 0 {
			qS.Kick() // the members' attempt
		}
		return err == ErrNotFound || m != nil && len(m.Pending()) == 0
	})
	if n := keeper.wait(c.ID, 2); n != 2 {
		t.Errorf("the expanded members found in the mailbox kept in the dumpster for %d recipients, want 2", n)
	}
	if err := sS.View(func(tx *Tx) error {
		for _, a := range []string{"alice@example.test", "bob@example.test"} {
			if !tx.WasDelivered("MDB01", c.OrgID, a) {
				t.Errorf("no duplicate record for %s", a)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
