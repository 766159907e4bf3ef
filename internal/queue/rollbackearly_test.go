package queue

import "testing"

// SR-17, SR-7 (rdsr1749: the mark rule after a rollback): a primary
// whose database was put back from an older copy under the same id
// presents a lower mark (found rolled back, its copies taken over) and
// counts its copies from there again, so a copy it makes after the
// rollback can carry a mark no higher than a discard kept aside before
// it. Taken by that discard, the new copy was answered "already
// discarded" and not kept while the primary named this server — lost
// with the primary. The rollback's commit forgets the discards kept
// aside above the mark it presented: a push still on its way from
// before is kept then (a copy the primary may not name, asked about
// within the hour), never a new copy swallowed.
func TestRollbackForgetsEarlyDiscardsAboveItsMark(t *testing.T) {
	for _, partial := range []bool{false, true} {
		q, _, m := earlyStaleFixture(t, partial) // a discard of m's org id kept aside under mark 7
		rolled, _, err := q.ShadowMarkSeen("hub-a", "dbA", 3, q.ShadowMarkFloor("hub-a"))
		if err != nil || !rolled {
			t.Fatalf("partial %v: mark 3 after 7: rolled back %v, %v; want found rolled back", partial, rolled, err)
		}
		// The copy the rolled-back primary makes next: mark 4.
		if !pushMarked(t, q, m, 4) {
			t.Fatalf("partial %v: a copy made after the rollback (mark 4) was taken by a discard kept under 7 before it: answered as discarded, not kept, while the primary names this server", partial)
		}
	}
}
