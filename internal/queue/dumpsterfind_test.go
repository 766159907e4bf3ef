package queue

import (
	"context"
	"testing"
	"time"
)

// DumpsterFind reads the keys of [from, to] only, in their order
// (kept-at first), and DeliveredAt gives the time a delivered record
// keeps — the time its commit kept the dumpster copy at — so that a
// later commit finds the copy there, not by reading every copy kept
// since the message arrived (TD-1).
func TestDumpsterFindBoundedByKeyOrder(t *testing.T) {
	s := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := DumpsterKey{Database: "DB01", KeptAt: t0.Add(time.Hour), ID: 42}
	err := s.Update(context.Background(), func(tx *Tx) error {
		for i, k := range []DumpsterKey{
			{Database: "DB01", KeptAt: t0, ID: 7},
			want,
			{Database: "DB01", KeptAt: t0.Add(2 * time.Hour), ID: 8},
			{Database: "DB02", KeptAt: t0.Add(time.Hour), ID: 42}, // another database's
		} {
			m := &Message{ID: k.ID, State: Ready, Rcpts: []Recipient{{Addr: "u@example.test", Status: Delivered}}}
			if err := tx.DumpsterPut(k, m, []byte(body)); err != nil {
				return err
			}
			if i == 1 {
				if err := tx.RecordDelivered("DB01", "org-42", "u@example.test", want.KeptAt); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		at, ok := tx.DeliveredAt("DB01", "org-42", "U@example.test")
		if !ok || !at.Equal(want.KeptAt) {
			t.Errorf("DeliveredAt: %v %v, want %v", at, ok, want.KeptAt)
		}
		if _, ok := tx.DeliveredAt("DB02", "org-42", "u@example.test"); ok {
			t.Error("DeliveredAt found a record in DB02")
		}
		for _, c := range []struct {
			from, to time.Time
			found    bool
		}{
			{at, at.Add(time.Second), true},
			{t0, time.Time{}, true},                       // no upper bound
			{t0, t0.Add(time.Minute), false},              // stops past to
			{at.Add(time.Nanosecond), time.Time{}, false}, // starts at from
		} {
			k, ok := tx.DumpsterFind("DB01", 42, c.from, c.to)
			if ok != c.found || ok && (k.ID != want.ID || k.Database != want.Database || !k.KeptAt.Equal(want.KeptAt)) {
				t.Errorf("DumpsterFind(%v, %v) = %+v %v, want found %v", c.from, c.to, k, ok, c.found)
			}
		}
		return nil
	})
}
