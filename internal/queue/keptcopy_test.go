package queue

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7 (shadow verbs 23, XQUERYKEPT; a holder's database file
// copied back): hub-a keeps the copy of a message hub-b (the primary)
// still has pending. The holder's side answers the copy kept while its
// record is there, and missing once it is not, for the primary's name in
// any spelling. The primary's side lists the copy among those its
// records name hub-a the holder of, and applies the two-answer rule: one
// missing answer changes nothing, nor a second one too soon after it (a
// copy may be on its way); an answer that says it kept in between starts
// the count again; two missing answers at least apart apart mark the
// message held by hub-b only, "rolled back", in the commit that reads
// the second, and the copy is no longer listed as kept there.
func TestSR6KeptAnswerTwoAnswersApart(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var orig *Message
	for _, pm := range messages(t, p.s) {
		if slices.ContainsFunc(pm.Rcpts, func(r Recipient) bool { return r.Addr == "b@c.example" && r.Status == Pending }) {
			orig = pm
		}
	}
	if orig == nil || orig.ShadowServer != "hub-a" || orig.ShadowID == "" {
		t.Fatalf("hub-b holds no record with b@ pending copied on hub-a: %+v", orig)
	}
	sid := orig.ShadowID

	// The holder's side.
	if missing, err := qS.ShadowKeptMissing("HUB-B", "", []string{sid, "00000000000000ff-x"}); err != nil || !slices.Equal(missing, []string{"00000000000000ff-x"}) {
		t.Fatalf("hub-a says missing %q (%v); want only the id it has no record of", missing, err)
	}
	if missing, _ := qS.ShadowKeptMissing("hub-c", "", []string{sid}); !slices.Equal(missing, []string{sid}) {
		t.Fatalf("hub-a keeps hub-b's copy for hub-c too: missing %q", missing)
	}

	// The primary's side lists it.
	ids, next, err := p.q.ShadowCopiesNamed("hub-a", 0, 100)
	if err != nil || !slices.Contains(ids, sid) || next != 0 {
		t.Fatalf("copies named on hub-a: %q next %d (%v); want %q among them, read to the end", ids, next, err, sid)
	}
	if other, _, _ := p.q.ShadowCopiesNamed("hub-c", 0, 100); len(other) != 0 {
		t.Fatalf("copies named on hub-c: %q", other)
	}

	const apart = 10 * time.Second
	answer := func(missing ...string) int {
		t.Helper()
		marked, err := p.q.ShadowKeptAnswer("hub-a", []string{sid}, missing, apart)
		if err != nil {
			t.Fatal(err)
		}
		return len(marked)
	}
	single := func() bool { _, ok := p.q.SingleCopyOf(orig.ID); return ok }

	if n := answer(sid); n != 0 || single() {
		t.Fatal("one missing answer marked the message")
	}
	p.clk.Advance(apart / 2)
	if n := answer(sid); n != 0 || single() {
		t.Fatal("a second missing answer too soon after the first marked the message")
	}
	if n := answer(); n != 0 || single() { // kept in between
		t.Fatal("a kept answer marked the message")
	}
	p.clk.Advance(apart)
	if n := answer(sid); n != 0 || single() {
		t.Fatal("a missing answer after a kept one marked the message: the kept answer did not start the count again")
	}
	p.clk.Advance(apart)
	if n := answer(sid); n != 1 || !single() {
		t.Fatalf("two missing answers %v apart marked %d messages; want hub-b's", apart, n)
	}
	sc, _ := p.q.SingleCopyOf(orig.ID)
	if sc.Lost != "hub-a" || sc.How != HowRolledBack || !strings.Contains(sc.String(), "rolled back") {
		t.Fatalf("the mark: %+v %q; want lost on hub-a, rolled back", sc, sc.String())
	}
	if ids, _, _ := p.q.ShadowCopiesNamed("hub-a", 0, 100); slices.Contains(ids, sid) {
		t.Fatal("a marked message's copy is still listed as kept on hub-a")
	}
	if n := answer(sid); n != 0 {
		t.Fatalf("marked again: %d", n)
	}

	// The holder that lost the record answers it missing.
	if err := qS.RemoveMessageForce(context.Background(), m.ID, false); err != nil {
		t.Fatal(err)
	}
	if missing, _ := qS.ShadowKeptMissing("hub-b", "", []string{sid}); !slices.Equal(missing, []string{sid}) {
		t.Fatalf("hub-a, its record gone, says missing %q", missing)
	}
}

// A copy whose holder told what it finished of it after a takeover, kept
// here for the attempt in flight (takendonewait.go), is not asked about:
// the holder may have forgotten it, and its answer "missing" would copy
// again a message the holder delivered.
func TestSR6KeptNotAskedWhileFinishedNotesWait(t *testing.T) {
	p, _, _, _, _, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var sid string
	for _, pm := range messages(t, p.s) {
		if pm.ShadowServer == "hub-a" && len(pm.Pending()) > 0 {
			sid = pm.ShadowID
		}
	}
	if ids, _, _ := p.q.ShadowCopiesNamed("hub-a", 0, 100); sid == "" || !slices.Contains(ids, sid) {
		t.Fatalf("copies named on hub-a: %q; want %q", ids, sid)
	}
	note := TakenDone{ID: sid, Addr: "b@c.example", Kind: TakenDelivered}
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		return tx.tx.Bucket(bucketTakenDoneWait).Put(takenDoneWaitKey("HUB-A", note), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}); err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := p.q.ShadowCopiesNamed("hub-a", 0, 100); slices.Contains(ids, sid) {
		t.Fatalf("copies named on hub-a: %q; %q's finished notes wait here, it is not to be asked about", ids, sid)
	}
}

// SR-6 (shadow verbs 23) under a step of the wall clock: the time an
// answer first said a copy missing follows the step, as the queue's
// other stored times do (clockstep.go), so that the two answers are
// apart in real time. Not followed, a step forward made the next
// missing answer — a copy on its way, one probe later — mark the
// message at once (a needless copy), and a step back kept a copy the
// holder lost counted as kept for the step's length.
func TestSR6KeptMissingFollowsClockStep(t *testing.T) {
	p, _, _, _, _, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var orig *Message
	for _, pm := range messages(t, p.s) {
		if pm.ShadowServer == "hub-a" && len(pm.Pending()) > 0 {
			orig = pm
		}
	}
	if orig == nil || orig.ShadowID == "" {
		t.Fatal("hub-b holds no record with a copy on hub-a")
	}
	sid := orig.ShadowID
	const apart = 10 * time.Second
	answer := func() int {
		t.Helper()
		marked, err := p.q.ShadowKeptAnswer("hub-a", []string{sid}, []string{sid}, apart)
		if err != nil {
			t.Fatal(err)
		}
		return len(marked)
	}
	noted := func() (at time.Time) {
		p.s.View(func(tx *Tx) error {
			if b := tx.tx.Bucket(bucketKeptMissing); b != nil {
				if v := b.Get(keptMissingKey("hub-a", sid)); len(v) == 8 {
					at = getTime(v)
				}
			}
			return nil
		})
		return at
	}
	single := func() bool { _, ok := p.q.SingleCopyOf(orig.ID); return ok }

	if n := answer(); n != 0 {
		t.Fatal("one missing answer marked the message")
	}
	first := noted()
	if first.IsZero() {
		t.Fatal("the first missing answer noted nothing")
	}
	p.clk.Jump(time.Hour)
	p.q.Kick()
	waitFor(t, "the note to follow the step forward", func() bool { return noted().Equal(first.Add(time.Hour)) })
	if n := answer(); n != 0 || single() {
		t.Fatal("a missing answer right after a step forward marked the message: the two answers were not apart")
	}
	p.clk.Jump(-2 * time.Hour)
	p.q.Kick()
	waitFor(t, "the note to follow the step back", func() bool { return noted().Equal(first.Add(-time.Hour)) })
	p.clk.Advance(apart)
	if n := answer(); n != 1 || !single() {
		t.Fatalf("two missing answers %v apart in real time across a step back marked %d messages; want hub-b's", apart, n)
	}
}

// SR-6, SR-7 (shadow verbs 23; rt26a): a copy this server took over from
// hub-a and handed on to hub-c in a shadow session is kept for hub-c
// under hub-c's id, and its handed note for hub-a waits for hub-c's
// discard. Asked by hub-a (back, its original pending) which of its
// copies this server keeps, the copy is accounted for — answered
// missing, hub-a would mark its message held by it only and copy it
// again, and a later loss of hub-a would have it delivered by that new
// copy's holder as well as by hub-c. Another primary asking the same id
// hears it missing: the note is hub-a's.
func TestSR6KeptCountsCopyHandedOn(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	sS := openTest(t)
	var on atomic.Bool
	dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if !on.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 down"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"})
		}
		return out
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	c := msg(sS, "s@example.org", "h1@x.example", "h2@x.example")
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if missing, err := qS.ShadowKeptMissing("hub-a", "", []string{org}); err != nil || len(missing) != 0 {
		t.Fatalf("the copy kept for hub-a answered missing %q (%v)", missing, err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := qS.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	on.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); qS.Wait() }()
	qS.Start(runCtx)
	waitFor(t, "the taken-over copy handed to hub-c", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.State == Shadow && !slices.ContainsFunc(got.Rcpts, func(r Recipient) bool { return r.Primary != "hub-c" })
	})
	if missing, err := qS.ShadowKeptMissing("HUB-A", "", []string{org}); err != nil || len(missing) != 0 {
		t.Fatalf("hub-a's copy, taken over and handed to hub-c (its discard not come), answered missing %q (%v)", missing, err)
	}
	if missing, _ := qS.ShadowKeptMissing("hub-x", "", []string{org}); len(missing) != 1 {
		t.Fatalf("hub-x asking hub-a's copy's id hears it kept: missing %q", missing)
	}
}

// SR-6, SR-7 (rt40 F1 of an outside check): the README's bound on
// making again the copies a rolled-back holder lost. With a
// shadow_heartbeat_timeout of 5 s the primary's answers came 5 s apart,
// the rule wants them at least 10 s apart (the copier's bound), and the
// copies were made again ~12.5 s after the holder's start — not "within
// two probe intervals" as the README said: a kill -9 of the primary in
// between lost every message. The README now states the bound the
// rule gives: the first probe after the holder's start (within one
// interval I), then the first answer at least max(I, 10 s) after it,
// the answers being I apart — I + ⌈max(I, 10 s)/I⌉·I: 2·I from 10 s
// up, 15 s for 5 s (and 3 s), 16 s for 4 s. Answers every I with the
// fake clock: none before the bound marks the message; the one at the
// bound does.
func TestSR6KeptRolledBackDetectedWithinStatedBound(t *testing.T) {
	const floor = 10 * time.Second             // delivery receiptTry: the copier's bound
	stated := map[time.Duration]time.Duration{ // the README's table
		1 * time.Second:   11 * time.Second,
		2 * time.Second:   12 * time.Second, // deploy/demo
		3 * time.Second:   15 * time.Second,
		4 * time.Second:   16 * time.Second,
		5 * time.Second:   15 * time.Second,
		10 * time.Second:  20 * time.Second,
		30 * time.Second:  60 * time.Second,
		300 * time.Second: 600 * time.Second, // the default, configs/hub.yaml
	}
	for interval, bound := range stated {
		t.Run(interval.String(), func(t *testing.T) {
			p, _, _, _, _, stopS, stopP := partialSetup2(t)
			defer stopP()
			stopS()
			var orig *Message
			for _, pm := range messages(t, p.s) {
				if pm.ShadowServer == "hub-a" && pm.ShadowID != "" {
					orig = pm
				}
			}
			if orig == nil {
				t.Fatal("hub-b holds no record copied on hub-a")
			}
			sid := orig.ShadowID
			apart := max(interval, floor) // delivery keptApart
			start := p.clk.Now()          // the rolled-back holder starts
			// The first probe after its start: at most one interval later.
			p.clk.Advance(interval)
			for {
				since := p.clk.Now().Sub(start)
				if since > bound {
					t.Fatalf("interval %v: not marked %v after the holder's start; the README states %v", interval, since, bound)
				}
				marked, err := p.q.ShadowKeptAnswer("hub-a", []string{sid}, []string{sid}, apart)
				if err != nil {
					t.Fatal(err)
				}
				if len(marked) > 0 {
					if since != bound {
						t.Fatalf("interval %v: marked %v after the holder's start; the README states %v: the table is not the rule's", interval, since, bound)
					}
					return
				}
				p.clk.Advance(interval)
			}
		})
	}
}

// SR-6, SR-7 (sites47 F1 of an outside check): a primary renamed in the
// topology while its own configuration still states the old name (its
// reload refused) keeps its database: a holder files the copies relayed
// to it after the rename under the new name, with the database id the
// old name's record keeps. Asked by the primary under the old name which
// copies it keeps, the holder answered them all missing, and the
// primary marked its messages "rolled back" on a holder that never was,
// then could not make the copies again. A copy filed under another name
// of the asking primary's database is kept; one filed under a name of
// another database is not, nor does a name with no record of its
// database speak for another's copies.
func TestSR6KeptCopyFiledUnderAnotherNameOfItsDatabase(t *testing.T) {
	ctx := context.Background()
	const org = "0123456789abcdef0123456789abcdee"
	sS, qS, clk, _ := copyUnderRenamedName(t, org, topo{"b2x.sites.test": "127.0.0.203", "b3.sites.test": "127.0.0.204"})
	if missing, err := qS.ShadowKeptMissing("B2.sites.test", "dbB2", []string{org}); err != nil || len(missing) != 0 {
		t.Fatalf("the copy filed under b2x.sites.test, of b2.sites.test's database, answered missing to b2.sites.test: %q (%v)", missing, err)
	}
	if missing, _ := qS.ShadowKeptMissing("b2x.sites.test", "dbB2", []string{org}); len(missing) != 0 {
		t.Fatalf("the copy answered missing to the name it is filed under: %q", missing)
	}
	if err := sS.Update(ctx, func(tx *Tx) error {
		return tx.PutPeer(&ShadowPeer{Primary: "b3.sites.test", Addr: "127.0.0.204:25", DatabaseID: "dbB3", LastContact: clk.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"b3.sites.test", "b4.sites.test"} {
		if missing, _ := qS.ShadowKeptMissing(other, "dbB2", []string{org}); !slices.Equal(missing, []string{org}) {
			t.Fatalf("%s, another database (or none known), hears b2's copy kept: missing %q", other, missing)
		}
	}
}

// SR-15 (sites47 F1's sibling): the note of a copy the administrator
// removed is told to the primary that asks under another name of the
// database the copy was filed under (a rename its own reload refused):
// kept for the name it was filed under only, it was never told, and the
// primary counted as kept a copy that was gone. The acknowledgement
// forgets it.
func TestSR15DroppedCopyToldUnderAnotherNameOfItsDatabase(t *testing.T) {
	ctx := context.Background()
	const org = "0123456789abcdef0123456789abcded"
	_, qS, _, c := copyUnderRenamedName(t, org, topo{"b2x.sites.test": "127.0.0.203"})
	if err := qS.RemoveMessageForce(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	if other, _ := qS.DroppedCopies("b3.sites.test", "dbB2", 100); len(other) != 0 {
		t.Fatalf("another server is told of b2's removed copy: %q", other)
	}
	ids, ack := qS.DroppedCopies("b2.sites.test", "dbB2", 100)
	if !slices.Contains(ids, org) {
		t.Fatalf("b2.sites.test is told %q; want its copy filed under b2x.sites.test, %s", ids, org)
	}
	ack()
	if again, _ := qS.DroppedCopies("b2x.sites.test", "dbB2", 100); len(again) != 0 {
		t.Fatalf("the note stays after the acknowledgement: %q", again)
	}
}

// SR-7, SR-15: another name of a primary's database speaks for the
// asker only when the asker presents that database (its XSHADOW DB=). A
// server presenting the old name with another database (its disk lost,
// or another server given the name) before its record here learns the
// new id was told of — and its acknowledgement forgot — the copies
// removed here of the database it is not, and heard them kept: the
// server running that database was never told, and counted as kept a
// copy that was gone.
func TestSR15AnotherNameSpeaksOnlyForThePresentedDatabase(t *testing.T) {
	ctx := context.Background()
	const org = "0123456789abcdef0123456789abcdec"
	_, qS, _, c := copyUnderRenamedName(t, org, topo{"b2x.sites.test": "127.0.0.203"})
	// Asked without a database id, the asker is taken for the database
	// its record keeps, and hears the copy kept
	// (TestSR6KeptAskedWithoutDatabaseCountsItsOtherNames): only the
	// answer, no note told or forgotten.
	for _, presented := range []string{"dbOther"} {
		if missing, _ := qS.ShadowKeptMissing("b2.sites.test", presented, []string{org}); !slices.Equal(missing, []string{org}) {
			t.Fatalf("b2.sites.test presenting %q hears the copy of b2x.sites.test (dbB2) kept: missing %q", presented, missing)
		}
	}
	if err := qS.RemoveMessageForce(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	for _, presented := range []string{"dbOther", ""} {
		ids, ack := qS.DroppedCopies("b2.sites.test", presented, 100)
		if len(ids) != 0 {
			t.Fatalf("b2.sites.test presenting %q is told the removed copy of b2x.sites.test (dbB2): %q", presented, ids)
		}
		if ack != nil {
			ack()
		}
	}
	if ids, _ := qS.DroppedCopies("b2.sites.test", "dbB2", 100); !slices.Equal(ids, []string{org}) {
		t.Fatalf("the server presenting dbB2 is not told its removed copy (another's acknowledgement forgot it?): %q", ids)
	}
}

// copyUnderRenamedName makes a holder whose record of b2.sites.test
// keeps database dbB2, with servers as its topology (after a rename, b2x
// at b2's address), and files a copy org relayed under b2x.sites.test
// with that database id (sites47 F1).
func copyUnderRenamedName(t *testing.T, org string, servers topo) (*Store, *Manager, *clock.Fake, *Message) {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sS := openTest(t)
	qS := NewManager(sS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	qS.SetServers(servers)
	if err := sS.Update(ctx, func(tx *Tx) error {
		return tx.PutPeer(&ShadowPeer{Primary: "b2.sites.test", Addr: "127.0.0.203:25", DatabaseID: "dbB2", LastContact: clk.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	c := msg(sS, "s@example.org", "r@x.example")
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "b2x.sites.test", "127.0.0.203:25", "dbB2"); err != nil || !stored {
		t.Fatalf("copy under the new name: %v, %v", stored, err)
	}
	return sS, qS, clk, c
}
