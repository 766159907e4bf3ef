package queue

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What the backup holds that the replaced database no longer does
// (rt45 F2). The restore compares the two databases both ways. A
// message the replaced database holds and the backup lacks is newer
// mail, refused unless --discard-newer (restoreloss.go). A message the
// backup holds, with recipients to deliver, that the replaced database
// — readable, so its contents are known — no longer holds was
// finished there after the backup: delivered, relayed, removed by the
// operator (with --ndr its sender was told it failed), bounced or
// expired. Restored as it was, it went again: a duplicate at the next
// hop, mail the operator removed delivered after all, a failure DSN
// followed by the delivery it reported failed. So such messages are
// restored suspended: listed by db restore (GoneSinceBackup), held with
// restoreGoneHold as their last error until the operator resumes
// (message resume: they go) or removes them.
//
// The restore writes their ids into its copy's meta (keyRestoreGone,
// in the commit that reads them, before the copy takes the database's
// name), and the first start's own commit (init) suspends them and
// removes the key: one commit, so a crash at the start leaves either
// the key and no suspension (the next start does both) or both done.
// A restore whose replaced database is absent or unreadable (the
// disaster case) knows nothing was finished since the backup: it
// restores every message as it was.

// What the replaced database holds suspended stays held (rt47 F1,
// F3). A message it holds restored suspended — by an earlier restore of
// the same backup, started since (restoreGoneHold) or not (its
// restore_gone key) — was finished after the backup as surely as one it
// no longer holds: restored suspended again, listed again, so that a
// second restore does not send what the first kept back. One the
// operator suspended there after the backup (message suspend, or
// recorded in its restore_held key by an earlier restore that kept such
// a hold) is restored suspended as the operator left it (restore_held,
// suspended by the first start with restore_gone), and listed as a hold
// kept; one the replaced database also finished a recipient of is
// restored suspended (the stronger word: resumed, it may reach that
// recipient twice). A queue the replaced database holds suspended
// (queue suspend, or a restore's restore_queues not applied yet) that
// the backup does not is written suspended into the copy
// (restore_queues, applied by the first start) and named. A message the
// backup holds suspended that the replaced database no longer holds, or
// no longer has a recipient of to deliver, is restored suspended
// (marked so, listed): a resume is told it may have gone already. What
// the backup holds poison or quarantined stays as it was.

// liveHold is how the replaced database holds a message of the backup.
type liveHold uint8

const (
	liveFree     liveHold = iota // not held there, or held otherwise (poison, quarantined)
	liveRestored                 // restored suspended there, or recorded to be by its first start
	liveOperator                 // suspended there by the operator, or recorded to be kept so
)

// liveMessage is what the restore read of one message of the replaced
// database: the addresses of its recipients no longer pending there
// (nil: none, or a message the backup lacks, or a damaged record), and
// how it is held there.
type liveMessage struct {
	done map[string]bool
	hold liveHold
}

// liveMessages is what the restore read of the database it replaces
// (lostLocked): its messages by id, when it was created (its meta's
// created) and the queues it holds suspended. A message it holds with a
// recipient the backup has still to deliver and it finished — delivered
// in part after the backup — came back with that recipient pending, and
// the recipient got it twice: it is restored suspended too, as one
// finished in whole is.
type liveMessages struct {
	msgs    map[string]liveMessage
	created string   // its meta created, "" when it has none
	queues  []string // the queues it holds suspended, or records to be
}

// createdAfterBackup says whether live is of a database created after
// the backup whose copy's meta is meta was taken. A database created
// after the backup was taken — umbra started on a new disk after the
// old one was lost, then the backup restored over it — never held the
// backup's messages: it finished none of them, and nothing is restored
// suspended (every message of the backup is restored to be delivered,
// as with no database there). Its ids may be the backup's own for other
// messages: none of its message holds is kept either; its queue holds
// are the operator's all the same, and are kept.
func (live *liveMessages) createdAfterBackup(meta *bolt.Bucket) bool {
	if meta == nil || live.created == "" {
		return false
	}
	_, at, ok := bytes.Cut(meta.Get(keyBackupOf), []byte{0})
	taken, err := time.Parse(time.RFC3339, string(at))
	if !ok || err != nil {
		return false
	}
	created, err := time.Parse(time.RFC3339, live.created)
	return err == nil && created.After(taken)
}

// restoreRecorded is the set of ids a restore recorded under key in
// meta (restore_gone, restore_held) for its first start.
func restoreRecorded(meta *bolt.Bucket, key []byte) map[string]bool {
	if meta == nil {
		return nil
	}
	ids := meta.Get(key)
	out := map[string]bool{}
	for ; len(ids) >= 8; ids = ids[8:] {
		out[string(ids[:8])] = true
	}
	return out
}

// restoreQueues is the list of queue names a restore recorded in meta
// (restore_queues) for its first start to suspend.
func restoreQueues(meta *bolt.Bucket) []string {
	if meta == nil || meta.Get(keyRestoreQueues) == nil {
		return nil
	}
	return strings.Split(string(meta.Get(keyRestoreQueues)), "\x00")
}

// GoneSinceBackup is a message the backup holds, with recipients to
// deliver, that the database the restore replaces no longer holds:
// restored suspended.
type GoneSinceBackup struct {
	ID        ID
	From      string
	MessageID string
	Pending   []string // the recipients the backup has still to deliver
	Arrived   time.Time
}

// restoreGoneHold is the last error of a message restored suspended;
// RestoredSuspendedHold is its name outside the package.
const RestoredSuspendedHold = restoreGoneHold

const restoreGoneHold = "restored suspended: the database the restore replaced no longer held it, or no longer had a recipient of it to deliver (delivered, relayed, removed, bounced or expired after the backup); message resume sends it again, message remove drops it"

// markGoneIn lists the messages of the restore's copy at copyPath (in
// the directory held) that are not in live — the ids the replaced
// database holds — or that it finished a recipient of, or holds
// restored suspended, with recipients to deliver and due for delivery
// or suspended in the backup (gone), and records their ids in the
// copy's meta for the first start to suspend (applyRestoreGone). It
// records there too the messages of the backup due for delivery that
// the replaced database holds suspended by the operator (held) and the
// queues it holds suspended that the backup does not (queues).
func markGoneIn(dir *os.File, copyPath string, live *liveMessages, noSync bool) (gone, held []GoneSinceBackup, queues []string, err error) {
	db, err := openOwnBoltIn(dir, copyPath, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: noSync})
	if err != nil {
		return nil, nil, nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		gone, held, queues = gone[:0], held[:0], queues[:0]
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		// The queues first: the operator's, whenever the replaced
		// database was made.
		sus := tx.Bucket(bucketSuspended)
		for _, q := range live.queues {
			if q == "" || slices.Contains(queues, q) {
				continue
			}
			if sus != nil {
				if k, _ := sus.Cursor().Seek([]byte(q)); k != nil && string(k) == q {
					continue // suspended in the backup too
				}
			}
			queues = append(queues, q)
		}
		if len(queues) > 0 {
			if err := meta.Put(keyRestoreQueues, []byte(strings.Join(queues, "\x00"))); err != nil {
				return err
			}
		}
		mb := tx.Bucket(bucketMessages)
		if mb == nil || live.createdAfterBackup(meta) {
			return nil
		}
		var goneIDs, heldIDs []byte
		rt := wrapTx(tx)
		if err := mb.ForEach(func(k, v []byte) error {
			if v == nil || len(k) != 8 {
				return nil
			}
			lm, there := live.msgs[string(k)]
			if there && len(lm.done) == 0 && lm.hold == liveFree {
				return nil // held there as here, no recipient finished since the backup
			}
			m, derr := decodeMessage(v)
			if derr != nil || (m.State != Ready && m.State != Active && m.State != Suspended) {
				return nil // a damaged record is set aside by the start; one poison or quarantined stays so
			}
			rt.readReceived(m) // the receipt a release did not move (received.go)
			var pending []string
			finished := !there || lm.hold == liveRestored // gone from the replaced database, or held there as such
			for _, r := range m.Rcpts {
				if r.Status == Pending {
					pending = append(pending, r.Addr)
					finished = finished || lm.done[r.Addr]
				}
			}
			if len(pending) == 0 {
				return nil
			}
			g := GoneSinceBackup{ID: m.ID, From: m.From, MessageID: m.MessageID, Pending: pending, Arrived: m.ArrivedHere()}
			switch {
			case finished:
				gone = append(gone, g)
				goneIDs = append(goneIDs, k...)
			case lm.hold == liveOperator && m.State != Suspended:
				held = append(held, g)
				heldIDs = append(heldIDs, k...)
			}
			return nil
		}); err != nil {
			return err
		}
		if len(goneIDs) > 0 {
			if err := meta.Put(keyRestoreGone, goneIDs); err != nil {
				return err
			}
		}
		if len(heldIDs) > 0 {
			return meta.Put(keyRestoreHeld, heldIDs)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return gone, held, queues, err
}

// applyRestoreGone suspends, in the start's own commit (init), the
// messages a restore recorded as finished in the database it replaced
// (markGoneIn: restored suspended) and those it held suspended by the
// operator (kept suspended), suspends the queues it held suspended, and
// removes the records; how many messages it restored suspended.
func applyRestoreGone(btx *bolt.Tx) (int, error) {
	meta := btx.Bucket(bucketMeta)
	t := wrapTx(btx)
	n := 0
	for _, key := range [][]byte{keyRestoreGone, keyRestoreHeld} {
		ids := bytes.Clone(meta.Get(key))
		if ids == nil {
			continue
		}
		for ; len(ids) >= 8; ids = ids[8:] {
			m, err := t.Get(ID(binary.BigEndian.Uint64(ids[:8])))
			if err != nil {
				continue // gone meanwhile, or damaged (set aside)
			}
			if bytes.Equal(key, keyRestoreGone) && (m.State == Ready || m.State == Active || m.State == Suspended) {
				m.State, m.LastError = Suspended, restoreGoneHold
				n++
			} else if bytes.Equal(key, keyRestoreHeld) && (m.State == Ready || m.State == Active) {
				m.State = Suspended // the operator's hold, as the replaced database kept it
			} else {
				continue // held otherwise already
			}
			if err := t.Put(m); err != nil {
				return 0, err
			}
		}
		if err := meta.Delete(key); err != nil {
			return 0, err
		}
	}
	for _, q := range restoreQueues(meta) {
		if q != "" {
			if err := t.SetSuspended(q, true); err != nil {
				return 0, err
			}
		}
	}
	return n, meta.Delete(keyRestoreQueues)
}

// RestoredSuspended is how many messages this start suspended because
// the database a restore replaced had finished them after the backup.
func (s *Store) RestoredSuspended() int { return s.goneSuspended }

// RestoredResumeNote is what a resume of a message a restore holds
// (RestoredSuspended) is told, and its dry run: message resume, the
// console's (rt47 F2).
const RestoredResumeNote = "restored suspended by db restore: the database the restore replaced no longer held it to deliver " +
	"(delivered, relayed, removed, bounced or expired after the backup); resumed, it goes again and may reach a recipient a second time"

// RestoredSuspended says whether m is held as a restore left it: the
// backup held it with recipients to deliver, the database the restore
// replaced no longer did (restoreGoneHold). Resumed, it may reach a
// recipient a second time.
func (m *Message) RestoredSuspended() bool {
	return m.State == Suspended && m.LastError == restoreGoneHold
}

// restoredSuspendedIn counts the messages of queue name a restore holds
// (RestoredSuspended): of its suspended ones, those whose record holds
// restoreGoneHold are read whole.
func (t *Tx) restoredSuspendedIn(name string) int {
	n := 0
	hold := []byte(restoreGoneHold)
	t.walkQueue(name, 0, func(id ID, st State, known bool) bool {
		if !known || st != Suspended {
			return true
		}
		if v := t.messages.Get(id.Key()); v != nil && bytes.Contains(v, hold) {
			if m, err := t.Get(id); err == nil && m.RestoredSuspended() {
				n++
			}
		}
		return true
	})
	return n
}
