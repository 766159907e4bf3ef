package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// earlyMarkEntries are the three ways discards reach a shadow server,
// each with the rollback mark they were made under: the last batch of a
// discard query (a contact), a full batch before the next query
// (presented), and XDISCARD pushed in the primary's session (its
// XSHADOW's MARK=<n> DB=<id>).
var earlyMarkEntries = []struct {
	name  string
	apply func(q *Manager, mark uint64, line string) error
}{
	{"contact", func(q *Manager, mark uint64, line string) error {
		_, err := q.ShadowContactMarked("hub-a", "dbA", mark, []string{line})
		return err
	}},
	{"presented", func(q *Manager, mark uint64, line string) error {
		_, err := q.ShadowPresentedMarked("hub-a", "dbA", mark, []string{line})
		return err
	}},
	{"pushed", func(q *Manager, mark uint64, line string) error {
		_, err := q.ShadowPushedMarked("hub-a", "dbA", mark, []string{line})
		return err
	}},
}

// earlyMarkFixture is a shadow server that applies, through apply, a
// discard hub-a made under mark 7 for the copy on receipt named by m's
// org id, which it does not hold (the push it was for was abandoned):
// kept early. Between the primary's reading of that mark and this
// server's commit of the discard, a copy of another session — committed
// at hub-a after the mark was read — was kept here and raised the mark
// stored for hub-a to 9. partial: the discard named x@ alone.
func earlyMarkFixture(t *testing.T, apply func(q *Manager, mark uint64, line string) error, partial bool) (*Manager, *Message) {
	t.Helper()
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example")
	if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 7, q.ShadowMarkFloor("hub-a")); err != nil {
		t.Fatal(err)
	}
	other := receiptCopy(s, "z@d.example")
	if !pushMarked(t, q, other, 9) {
		t.Fatal("the other session's copy was not kept")
	}
	if f := q.ShadowMarkFloor("hub-a"); f.Mark != 9 {
		t.Fatalf("stored mark %d, want 9", f.Mark)
	}
	if err := apply(q, 7, earlyMarkLine(m, partial)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	return q, m
}

// earlyMarkLine is the discard of m's copy on receipt: of x@ alone when
// partial.
func earlyMarkLine(m *Message, partial bool) string {
	if partial {
		return PartialDiscard{ID: m.OrgID, Addr: "x@b.example"}.Wire()
	}
	return m.OrgID
}

// SR-17, earlymark40: an early discard is kept under the mark presented
// with it, not the mark stored for the primary when it is committed here
// — a copy of another session may have raised that meanwhile. A copy of
// the same org id committed at the primary after the discard (the
// message sent again, a copy made again: mark 8, above the discard's 7
// though below the stored 9) is a new one and is kept; settled by the
// stale discard, it was answered 250 and not kept — the primary names
// this server, and losing the primary loses the message.
func TestEarlyDiscardKeptUnderItsOwnMark(t *testing.T) {
	for _, e := range earlyMarkEntries {
		for _, partial := range []bool{false, true} {
			q, m := earlyMarkFixture(t, e.apply, partial)
			if !pushMarked(t, q, m, 8) {
				t.Fatalf("%s, partial %v: a copy committed after the discard (mark 8 > 7) was settled by it: not kept (the stored 9 was taken for the discard's mark)", e.name, partial)
			}
			got, err := q.Message(m.ID)
			if err != nil || got.State != Shadow || len(got.Rcpts) != 1 || got.Rcpts[0].Status != Shadowed {
				t.Fatalf("%s, partial %v: copy = %+v, %v; want x@ shadowed", e.name, partial, got, err)
			}
		}
	}
}

// The push the discard was for — committed at the primary before the
// discard, so its mark is no later than the discard's — still meets it
// and is not kept (rt19f F1), through each way a discard comes.
func TestEarlyDiscardUnderItsMarkStillSettlesItsPush(t *testing.T) {
	for _, e := range earlyMarkEntries {
		for _, partial := range []bool{false, true} {
			for _, mark := range []uint64{6, 7} {
				q, m := earlyMarkFixture(t, e.apply, partial)
				if pushMarked(t, q, m, mark) {
					t.Fatalf("%s, partial %v: the abandoned push (mark %d ≤ 7) was kept after its discard", e.name, partial, mark)
				}
				if got, _ := q.Message(m.ID); got != nil {
					t.Fatalf("%s, partial %v: copy stored although its discard came first: %+v", e.name, partial, got)
				}
			}
		}
	}
}

// SR-17, earlymark40: the primary hands a notification again until one
// session acknowledges it, so one discard may come twice — under the
// mark of each reply that listed it (7, then 9 in a later session's
// reply). The discard was made no later than the first: a copy of the
// same org id committed between the two (mark 8) is a new one and is
// kept; the repeat does not move the discard after it.
func TestEarlyDiscardRepeatKeepsItsFirstMark(t *testing.T) {
	for _, e := range earlyMarkEntries {
		for _, partial := range []bool{false, true} {
			q, m := earlyMarkFixture(t, e.apply, partial)
			line := earlyMarkLine(m, partial)
			if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 9, q.ShadowMarkFloor("hub-a")); err != nil {
				t.Fatal(err)
			}
			if err := e.apply(q, 9, line); err != nil {
				t.Fatal(err)
			}
			if !pushMarked(t, q, m, 8) {
				t.Fatalf("%s, partial %v: a copy committed after the discard (mark 8 > 7) was settled by its repeat under 9: not kept", e.name, partial)
			}
			// The push the discard was for (mark ≤ 7) is still not kept.
			q, m = earlyMarkFixture(t, e.apply, partial)
			if err := e.apply(q, 9, earlyMarkLine(m, partial)); err != nil {
				t.Fatal(err)
			}
			if pushMarked(t, q, m, 7) {
				t.Fatalf("%s, partial %v: the abandoned push (mark 7) was kept after its discard came twice", e.name, partial)
			}
		}
	}
}

// SR-17, earlymark40's sibling: a primary's answer to XQUERYHELD ("done"
// for an id this server asked about because it held the copy) names a
// copy that was here when asked; one gone by the answer's commit (a
// discard of another session settled it) has no push in flight for the
// answer to settle. Kept early — under the mark stored then, the answer
// presenting none — it settled a later copy of the same org id that
// came with a lower mark: answered 250, not kept, lost with the primary.
// The answer keeps no early discard.
func TestHeldAnswerKeepsNoEarlyDiscard(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	if !pushMarked(t, q, receiptCopy(s, "z@d.example"), 9) { // another copy: the stored mark is 9
		t.Fatal("the other copy was not kept")
	}
	m := receiptCopy(s, "x@b.example")
	if _, err := q.ShadowHeldDone("hub-a", "dbA", []string{m.OrgID}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if !pushMarked(t, q, m, 8) {
		t.Fatal("a copy pushed after an answer to XQUERYHELD about its org id was settled by it: not kept")
	}
}
