package queue

import (
	"bytes"
	"encoding/binary"
	"os"
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

// liveMessages is what the restore read of the database it replaces
// (lostLocked): the ids of the messages it holds, each with the
// addresses of its recipients no longer pending there (nil: none, or
// a message the backup lacks, or a damaged record). A message it holds
// with a recipient the backup has still to deliver and it finished —
// delivered in part after the backup — came back with that recipient
// pending, and the recipient got it twice: it is restored suspended
// too, as one finished in whole is.
type liveMessages map[string]map[string]bool

// liveCreatedKey holds, in liveMessages, when the replaced database was
// created (its meta's created, the one key of the set). A database
// created after the backup was taken — umbra started on a new disk
// after the old one was lost, then the backup restored over it — never
// held the backup's messages: it finished none of them, and nothing is
// restored suspended (every message of the backup is restored to be
// delivered, as with no database there).
const liveCreatedKey = "\x00created"

// createdAfterBackup says whether live is of a database created after
// the backup whose copy's meta is meta was taken.
func (live liveMessages) createdAfterBackup(meta *bolt.Bucket) bool {
	if meta == nil {
		return false
	}
	_, at, ok := bytes.Cut(meta.Get(keyBackupOf), []byte{0})
	taken, err := time.Parse(time.RFC3339, string(at))
	if !ok || err != nil {
		return false
	}
	for c := range live[liveCreatedKey] {
		created, err := time.Parse(time.RFC3339, c)
		return err == nil && created.After(taken)
	}
	return false
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

// restoreGoneHold is the last error of a message restored suspended.
const restoreGoneHold = "restored suspended: the database the restore replaced no longer held it, or no longer had a recipient of it to deliver (delivered, relayed, removed, bounced or expired after the backup); message resume sends it again, message remove drops it"

// markGoneIn lists the messages of the restore's copy at copyPath (in
// the directory held) that are not in live — the ids the replaced
// database holds — with recipients to deliver and due for delivery
// (ready or in delivery at the backup), and records their ids in the
// copy's meta for the first start to suspend (applyRestoreGone).
func markGoneIn(dir *os.File, copyPath string, live liveMessages, noSync bool) (gone []GoneSinceBackup, err error) {
	db, err := openOwnBoltIn(dir, copyPath, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: noSync})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		gone = gone[:0]
		mb := tx.Bucket(bucketMessages)
		if mb == nil || live.createdAfterBackup(tx.Bucket(bucketMeta)) {
			return nil
		}
		var ids []byte
		if err := mb.ForEach(func(k, v []byte) error {
			if v == nil || len(k) != 8 {
				return nil
			}
			done, held := live[string(k)]
			if held && len(done) == 0 {
				return nil // held there, no recipient finished since the backup
			}
			m, derr := decodeMessage(v)
			if derr != nil || (m.State != Ready && m.State != Active) {
				return nil // a damaged record is set aside by the start; a held one stays held
			}
			var pending []string
			finished := !held // gone from the replaced database: finished in whole
			for _, r := range m.Rcpts {
				if r.Status == Pending {
					pending = append(pending, r.Addr)
					finished = finished || done[r.Addr]
				}
			}
			if len(pending) == 0 || !finished {
				return nil
			}
			gone = append(gone, GoneSinceBackup{ID: m.ID, From: m.From, MessageID: m.MessageID, Pending: pending, Arrived: m.Arrived})
			ids = append(ids, k...)
			return nil
		}); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keyRestoreGone, ids)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return gone, err
}

// applyRestoreGone suspends, in the start's own commit (init), the
// messages a restore recorded as finished in the database it replaced
// (markGoneIn), and removes the record; how many it suspended.
func applyRestoreGone(btx *bolt.Tx) (int, error) {
	meta := btx.Bucket(bucketMeta)
	ids := bytes.Clone(meta.Get(keyRestoreGone))
	if ids == nil {
		return 0, nil
	}
	t := wrapTx(btx)
	n := 0
	for ; len(ids) >= 8; ids = ids[8:] {
		m, err := t.Get(ID(binary.BigEndian.Uint64(ids[:8])))
		if err != nil || (m.State != Ready && m.State != Active) {
			continue // gone meanwhile, damaged (set aside), or held already
		}
		m.State, m.LastError = Suspended, restoreGoneHold
		if err := t.Put(m); err != nil {
			return 0, err
		}
		n++
	}
	return n, meta.Delete(keyRestoreGone)
}

// RestoredSuspended is how many messages this start suspended because
// the database a restore replaced had finished them after the backup.
func (s *Store) RestoredSuspended() int { return s.goneSuspended }
