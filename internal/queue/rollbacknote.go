package queue

import (
	"fmt"
	"time"
)

// RollbackNote is the last rollback found of a primary (ShadowMarkSeen):
// the mark it presented, the one seen before for the same database id,
// and when. Memory: empty after a restart until the next rollback; the
// copies it took over stay taken over (their reason says it).
type RollbackNote struct {
	Mark, Seen uint64
	At         time.Time
}

// Why is the note in shadow list's WHY: the copies taken over because
// the primary's database was rolled back.
func (n RollbackNote) Why() string {
	return fmt.Sprintf("its transport database was rolled back (an older copy of the same database): mark %d presented, %d seen before, at %s",
		n.Mark, n.Seen, n.At.UTC().Format(time.RFC3339))
}

// ShadowRollbacks returns the last rollback found per primary (by
// PrimaryKey) since this process started.
func (q *Manager) ShadowRollbacks() map[string]RollbackNote {
	out := map[string]RollbackNote{}
	q.rollbackNotes.Range(func(k, v any) bool {
		out[k.(string)] = v.(RollbackNote)
		return true
	})
	return out
}
