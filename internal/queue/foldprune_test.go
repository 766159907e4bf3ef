package queue

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// The fold entries older than message_expiration and the grace go with
// the next fold's commit (receiptcopy.go, bucket foldedrelay), once per
// commit however many recipients it files; the fold's own stay.
func TestFoldCommitPrunesStaleFoldEntries(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: 24 * time.Hour})
	g := orgid.New()
	rec := &Message{ID: s.NewID(clk.Now()), State: Shadow, From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1",
		Arrived: clk.Now(), OrgID: g}
	x1 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000001"
	x2 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000002"
	rec.Rcpts = []Recipient{
		{Addr: "a@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x1},
		{Addr: "B@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x2},
	}
	stale := foldedKey("hub-b", orgid.New(), "old@c.example")
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(rec, []byte(body)); err != nil {
			return err
		}
		v := make([]byte, 9, 11)
		binary.BigEndian.PutUint64(v, uint64(clk.Now().Add(-48*time.Hour-shadowExpiryGrace).UnixNano()))
		return tx.tx.Bucket(bucketFolded).Put(stale, append(v, "X0"...))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub-b", "db-b", nil); err != nil {
		t.Fatal(err)
	}
	push := &Message{ID: s.NewID(clk.Now()), From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1", Arrived: clk.Now(), OrgID: g,
		Rcpts: []Recipient{{Addr: "a@c.example"}}}
	if _, err := q.SubmitShadowCopy(context.Background(), push, []byte(body), "hub-b", "", "db-b"); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketFolded)
		if b.Get(stale) != nil {
			t.Error("a fold entry past message_expiration and the grace outlived the next fold's commit")
		}
		for _, a := range []string{"a@c.example", "B@c.example"} {
			if b.Get(foldedKey("hub-b", g, a)) == nil {
				t.Errorf("the fold's entry of %s is missing", a)
			}
		}
		return nil
	})
}
