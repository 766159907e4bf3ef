package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The audit of an operator's command acting on many messages (rt21c M3).
//
// Such a command (a bulk message action, queue resume, retry, redirect,
// flush) writes one audit line when it ends (the admin API). A daemon
// killed before that line left the commits made — 512 messages
// suspended, 32,000 made due — and no line saying who made them. So the
// command's tally goes with its commits: every commit of the command
// that changes messages adds how many to the command's record in bucket
// bulktally, in the same transaction, with who asked, the action and
// the queue; so do the messages it reached and left as they were
// (already in that state, or not for the action): a queue action's in
// the commit that went through them, a bulk message action's — whose
// messages the admin API passes over before any commit — in one commit
// at the end of each batch (TallyUnchanged). What a record does not
// count of the selection was not reached (for a bulk message action, or
// reached in the batch the stop cut and left as it was). The line at
// the command's end deletes the record; a record a start finds is of a
// command the daemon's stop (kill -9, a crash) cut short, and its line
// is written then, from the record, with what its commits did
// (BulkTallies, EndTally).

// BulkTally is a command's tally in the transport database.
type BulkTally struct {
	Key      string `json:"-"` // the command's (its selection's) key
	Who      string `json:"who"`
	Action   string `json:"action"` // as audited: "message suspend", "queue retry", …
	Queue    string `json:"queue,omitempty"`
	Selected int    `json:"selected,omitempty"`
	Done     int    `json:"done"` // messages its commits changed
	// Unchanged: messages it reached and left as they were (already in
	// that state, or not for the action: a shadow copy, one gone).
	Unchanged int `json:"unchanged,omitempty"`
	// Of Unchanged, a redirect's: messages in delivery left in the
	// queue (to redirect again after their attempt), and REQUIRETLS
	// messages kept on their route (rr24 F4).
	InDelivery     int       `json:"in_delivery,omitempty"`
	KeptRequireTLS int       `json:"kept_requiretls,omitempty"`
	Began          time.Time `json:"began"`
	// Waiting: when the command's last batch ended, had it more to do
	// and no further batch had begun since — its client had asked for
	// none (stopped by Ctrl-C, or its next batch not sent yet). Kept
	// so that a stop of the daemon then (kill -9, a crash) is audited
	// for what it is: it cut no batch (TallyWaiting).
	Waiting time.Time `json:"waiting,omitzero"`
}

type tallyKey struct{}

// WithTally is ctx for the commits of the command t names: each commit
// of MessageBatch and QueueBatch that changes messages, and each of a
// message done alone (change), adds them to t's record.
func WithTally(ctx context.Context, t BulkTally) context.Context {
	return context.WithValue(ctx, tallyKey{}, &t)
}

func tallyOf(ctx context.Context) *BulkTally {
	t, _ := ctx.Value(tallyKey{}).(*BulkTally)
	return t
}

// addTally adds n messages changed and unchanged messages reached and
// left as they were to the record of ctx's command, if any, in tx.
func (tx *Tx) addTally(ctx context.Context, n, unchanged int) error {
	return tx.addTallyOf(ctx, tallyAdd{done: n, unchanged: unchanged})
}

// tallyAdd is what one commit adds to a command's record: inDelivery
// and keptRequireTLS are of unchanged.
type tallyAdd struct {
	done, unchanged, inDelivery, keptRequireTLS int
}

// addTallyOf is addTally with the kinds of unchanged messages counted.
func (tx *Tx) addTallyOf(ctx context.Context, a tallyAdd) error {
	n, unchanged := a.done, a.unchanged
	t := tallyOf(ctx)
	if t == nil || n <= 0 && unchanged <= 0 || t.Key == "" {
		return nil
	}
	b, err := tx.tx.CreateBucketIfNotExists(bucketBulkTally)
	if err != nil {
		return err
	}
	rec := *t
	if v := b.Get([]byte(t.Key)); v != nil {
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("bulk tally %s: %w", t.Key, err)
		}
	} else if rec.Began.IsZero() {
		rec.Began = time.Now().UTC()
	}
	rec.Done += n
	rec.Waiting = time.Time{} // a batch commits: the command runs
	rec.Unchanged += max(unchanged, 0)
	rec.InDelivery += max(a.inDelivery, 0)
	rec.KeptRequireTLS += max(a.keptRequireTLS, 0)
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put([]byte(t.Key), v)
}

// TallyUnchanged adds n messages reached and left as they were to the
// record of ctx's command (WithTally), in a commit of its own: a bulk
// message action's, at the end of each batch (the admin API passes
// over those it does not act on before any commit). Nothing without a
// command or n.
func (q *Manager) TallyUnchanged(ctx context.Context, n int) error {
	if t := tallyOf(ctx); t == nil || t.Key == "" || n <= 0 {
		return nil
	}
	return q.store.Update(ctx, func(tx *Tx) error { return tx.addTally(ctx, 0, n) })
}

// TallyWaiting marks command key's record as waiting for its client's
// next batch since at (its last batch ended with more to do), or, at
// zero, as running again (the next batch began): in a commit of its
// own, fsync'd, so that a start after a stop between its batches says
// so. Nothing without a record (a command that has changed and reached
// nothing yet has no line after a stop either).
func (q *Manager) TallyWaiting(key string, at time.Time) error {
	return q.store.Update(context.Background(), func(tx *Tx) error {
		b := tx.tx.Bucket(bucketBulkTally)
		if b == nil || key == "" {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		var rec BulkTally
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("bulk tally %s: %w", key, err)
		}
		if rec.Waiting.Equal(at) {
			return nil
		}
		rec.Waiting = at.UTC()
		nv, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), nv)
	})
}

// BulkTallies is the tallies recorded, of commands whose line is not
// written: at a start, those a stop cut short.
func (q *Manager) BulkTallies() ([]BulkTally, error) {
	var out []BulkTally
	err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketBulkTally)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var t BulkTally
			if err := json.Unmarshal(v, &t); err != nil {
				t = BulkTally{Action: "(unreadable tally)"}
			}
			t.Key = string(k)
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// EndTally deletes command key's tally once its line is written; a
// command that neither changed a message nor reached one it left as it
// was has none, and costs no commit.
func (q *Manager) EndTally(key string) error {
	found := false
	if err := q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketBulkTally)
		found = b != nil && b.Get([]byte(key)) != nil
		return nil
	}); err != nil || !found {
		return err
	}
	return q.store.Update(context.Background(), func(tx *Tx) error {
		if b := tx.tx.Bucket(bucketBulkTally); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
}
