package queue

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// RFC 5321 §2.4, rt17b-F2: "Joe@relayed.example" and
// "joe@relayed.example" of a relayed domain are two mailboxes. This
// server finished Joe@ of a message with a copy elsewhere (bucket
// finished); a copy of the message with the org id alone then brings
// joe@: it is not done here, and must be queued, not dropped as a
// duplicate (a loss).
func TestFinishedKeepsLocalPartCase(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	sent := map[string]bool{} // the recipients delivery was given, as written
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			mu.Lock()
			sent[m.Rcpts[i].Addr] = true
			mu.Unlock()
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "smarthost:out", Reply: "250 ok"})
		}
		return out
	}), ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	const org = "00112233445566778899aabbccddeeff"
	orig := msg(s, "a@example.org", "Joe@relayed.example")
	orig.OrgID, orig.ShadowServer, orig.ShadowID = org, "hub-a", "a-0001"
	if err := q.Submit(ctx, orig, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Joe@ relayed", func() bool { _, err := q.Message(orig.ID); return err != nil })
	other := msg(s, "a@example.org", "joe@relayed.example")
	other.OrgID, other.ShadowServer, other.ShadowID = org, "hub-c", "c-0001"
	if err := q.Submit(ctx, other, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// Queued: its record is there, or — the manager claims and delivers
	// it at once — delivery was given joe@ already and the record went
	// with its commit (a look at the record alone missed it under load).
	var queued bool
	_ = s.View(func(tx *Tx) error { _, err := tx.Get(other.ID); queued = err == nil; return nil })
	mu.Lock()
	queued = queued || sent["joe@relayed.example"]
	mu.Unlock()
	if !queued {
		t.Fatal("joe@relayed.example was dropped as done here: Joe@relayed.example, another mailbox, was the one finished")
	}
}

// An entry an earlier release wrote in bucket finished is keyed by the
// folded address: it still drops a recipient it can only mean (one
// spelling of it in the copy), and neither of two that differ in case
// (a duplicate at worst, never a loss).
func TestFinishedEarlierFoldedEntry(t *testing.T) {
	s := openTest(t)
	const org = "00112233445566778899aabbccddeeff"
	now := time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		v := append(make([]byte, 8), 0)
		v = append(append(append(v, "hub-a"...), 0), "a-0001"...)
		return tx.tx.Bucket(bucketFinished).Put(append(append([]byte(org), 0), "joe@relayed.example"...), v)
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rcpts []string
		drop  int
	}{
		{[]string{"Joe@relayed.example"}, 1},
		{[]string{"joe@relayed.example", "x@relayed.example"}, 1},
		{[]string{"Joe@relayed.example", "joe@relayed.example"}, 0},
	} {
		m := msg(s, "a@example.org", c.rcpts...)
		m.OrgID, m.ShadowServer, m.ShadowID, m.Arrived = org, "hub-a", "a-0001", now
		var done []Recipient
		_ = s.View(func(tx *Tx) error { _, done = tx.dropFinished(m); return nil })
		if len(done) != c.drop {
			t.Errorf("%q: %d dropped by the earlier release's entry, want %d", c.rcpts, len(done), c.drop)
		}
	}
}

// The fold's per-recipient relay id (bucket foldedrelay) keeps
// local-part case: A@ and a@ of a relayed domain, relayed to hub-b in
// two transactions (X1, X2) and folded under the org id, are settled
// each by its own relay's discard.
func TestFoldedRelayKeepsLocalPartCase(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	g := orgid.New()
	rec := &Message{ID: s.NewID(clk.Now()), State: Shadow, From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1",
		Arrived: clk.Now(), OrgID: g}
	x1 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000001"
	x2 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000002"
	rec.Rcpts = []Recipient{
		{Addr: "A@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x1},
		{Addr: "a@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x2},
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(rec, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub-b", "db-b", nil); err != nil {
		t.Fatal(err)
	}
	push := &Message{ID: s.NewID(clk.Now()), From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1", Arrived: clk.Now(), OrgID: g,
		Rcpts: []Recipient{{Addr: "A@c.example"}}}
	if _, err := q.SubmitShadowCopy(context.Background(), push, []byte(body), "hub-b", "", "db-b"); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Message(rec.ID); err != nil || got.Rcpts[0].ShadowID != g {
		t.Fatalf("the push was not folded into the relayed record: %+v %v", got, err)
	}
	// X2 (a@'s transaction) is done at hub-b: A@ stays shadowed.
	if _, err := q.ShadowContact("hub-b", "db-b", []string{x2}); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(rec.ID)
	if err != nil {
		t.Fatalf("the copy went whole with X2's discard (A@'s record is still at hub-b): %v", err)
	}
	for _, r := range got.Rcpts {
		if want := r.Addr == "A@c.example"; (r.Status == Shadowed) != want {
			t.Errorf("%s is %v after X2's discard; shadowed: want %v", r.Addr, r.Status, want)
		}
	}
}

// An entry an earlier release wrote in bucket foldedrelay (the folded
// address, no 0x00 before the relay id) still names the relay id of a
// recipient that is its record's one spelling of the address, and is
// deleted with it; for two spellings it names neither (no relay id
// settles them; the org id's discard does) and stays for the pruning.
func TestFoldedRelayEarlierEntry(t *testing.T) {
	s := openTest(t)
	const org, primary = "00112233445566778899aabbccddeeff", "hub-b"
	earlier := append(foldedPrefix(primary, org), "a@c.example"...)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.tx.Bucket(bucketFolded).Put(earlier, append(make([]byte, 8), "X1"...))
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.Update(context.Background(), func(tx *Tx) error {
		r := &Recipient{Addr: "A@c.example"}
		if !tx.relaySettlesFolded(primary, org, r, "X1", false) || tx.relaySettlesFolded(primary, org, r, "X2", false) {
			t.Error("the earlier entry does not name X1 for the record's one spelling A@")
		}
		if tx.relaySettlesFolded(primary, org, r, "X1", true) || tx.relaySettlesFolded(primary, org, r, "X2", true) {
			t.Error("the earlier entry names a relay id for A@ beside a@ in one record")
		}
		if !tx.relaySettlesFolded(primary, org, &Recipient{Addr: "B@c.example"}, "X2", true) {
			t.Error("a twin with no entry at all is not settled by any relay id (the earlier rule)")
		}
		if err := tx.dropFolded(primary, org, "A@c.example", true); err != nil || tx.tx.Bucket(bucketFolded).Get(earlier) == nil {
			t.Errorf("the earlier entry went with one of two spellings (%v)", err)
		}
		if err := tx.dropFolded(primary, org, "A@c.example", false); err != nil || tx.tx.Bucket(bucketFolded).Get(earlier) != nil {
			t.Errorf("the earlier entry stays after its one spelling was settled (%v)", err)
		}
		return nil
	})
}
