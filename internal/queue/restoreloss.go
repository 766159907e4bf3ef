package queue

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A restore puts the backup in place of the database: a message the
// replaced database holds and the backup lacks (accepted after the
// backup) is in the replaced file only, which nothing delivers. It
// comes back only from the server that keeps a shadow copy of it, which
// resubmits it when the restored database presents its new id (the
// message's ShadowServer); a message no shadow server keeps (a server
// with no shadow servers, a sender that did not shadow it) does not come
// back, nor does one marked held by this server only, whatever server
// its record names (holders.go), nor one an operator's hold or the
// quarantine discarded the copy of (hold.go): the shadow server that
// keeps its copy now is copyKeeperTx's, the server message show names.
// Lost lists those before anything is
// replaced, so that db restore refuses to drop them unless told to.

// NotInBackup is a message the database a restore would replace holds,
// with recipients still to deliver, that the backup lacks and that no
// shadow server keeps a copy of.
type NotInBackup struct {
	ID        ID
	From      string
	MessageID string
	Pending   []string // the recipients still to deliver
	Arrived   time.Time
	// Why no shadow server keeps it (lostWhy): held by the operator,
	// quarantined, marked held by this server only, or accepted with
	// no shadow copy.
	Why string
	// PickupFile is, for a message submitted from the pickup directory,
	// the name of its file there (NAME.eml): while its NAME.<id>.queued
	// file is there, a start on the restored database gives it back
	// and submits it again (PickupQueuedName; package pickup), so the
	// message is not left behind.
	PickupFile string
}

// PickupQueuedName is the name a pickup message's file (NAME.eml) has
// in the pickup directory while its message is queued: NAME.<id>.queued.
func PickupQueuedName(file string, id ID) string {
	return strings.TrimSuffix(file, ".eml") + "." + id.String() + ".queued"
}

// LostByRestore lists the messages of the database at path that a
// restore of backup would leave behind with nobody to resubmit them
// (NotInBackup). known is false when path does not exist or cannot be
// read (a damaged database: what it holds is not known); err is
// backup's own failure to be read.
func LostByRestore(backup, path string) (lost []NotInBackup, known bool, err error) {
	lost, known, _, _, err = lostByRestore(backup, path)
	return lost, known, err
}

// lostByRestore is LostByRestore that also says whether the count was
// not made because another process held the database's lock (busy):
// not a damaged database, a count to make again (lockCounted).
// live is the set of message ids the database holds (when known):
// what the restore compares the backup with the other way
// (restoregone.go).
func lostByRestore(backup, path string) (lost []NotInBackup, known, busy bool, live *liveMessages, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, false, false, nil, nil
	}
	in, err := backupIDs(backup)
	if err != nil {
		return nil, false, false, nil, err
	}
	// The lock before the walk (openlock.go): a running daemon's file is
	// not known here (the restore refuses it as in use), not damaged.
	f, lerr := lockDB(path, false, time.Second)
	if lerr != nil {
		return nil, false, true, nil, nil
	}
	lost, known, live, err = lostLocked(in, path, f)
	return lost, known, false, live, err
}

// lostLocked is the count of LostByRestore on path, locked by f.
func lostLocked(in map[string]bool, path string, f *os.File) (lost []NotInBackup, known bool, live *liveMessages, err error) {
	if err := checkPageTree(path); err != nil {
		closeLocked(f)
		return nil, false, nil, nil // damaged: it is what a restore is for
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			lost, known, live, err = nil, false, nil, nil
		}
	}()
	db, err := bolt.Open(path, 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, ReadOnly: true}))
	if err != nil {
		return nil, false, nil, nil
	}
	defer db.Close()
	live = &liveMessages{msgs: map[string]liveMessage{}}
	err = db.View(func(tx *bolt.Tx) error {
		mt := tx.Bucket(bucketMeta)
		if mt != nil && mt.Get(keyCreated) != nil {
			live.created = string(mt.Get(keyCreated)) // restoregone.go
		}
		// The holds it keeps (restoregone.go): its queues suspended, and
		// those an earlier restore recorded for its first start.
		if sus := tx.Bucket(bucketSuspended); sus != nil {
			_ = sus.ForEach(func(k, _ []byte) error { live.queues = append(live.queues, string(k)); return nil })
		}
		live.queues = append(live.queues, restoreQueues(mt)...)
		restoredThere, heldThere := restoreRecorded(mt, keyRestoreGone), restoreRecorded(mt, keyRestoreHeld)
		b := tx.Bucket(bucketMessages)
		if b == nil {
			return nil
		}
		t := wrapTx(tx)
		return b.ForEach(func(k, v []byte) error {
			live.msgs[string(k)] = liveMessage{} // a damaged record too: the database still holds it
			if v == nil {
				return nil
			}
			m, derr := decodeMessage(v)
			if derr != nil {
				return nil // a damaged record: its start sets it aside in either database
			}
			t.readReceived(m) // the receipt a release did not move (received.go)
			if in[string(k)] {
				// In both: the recipients it finished since the backup,
				// and how it holds it (restoregone.go).
				var lm liveMessage
				for _, r := range m.Rcpts {
					if r.Status != Pending {
						if lm.done == nil {
							lm.done = map[string]bool{}
						}
						lm.done[r.Addr] = true
					}
				}
				switch {
				case m.RestoredSuspended() || restoredThere[string(k)] && (m.State == Ready || m.State == Active || m.State == Suspended):
					lm.hold = liveRestored
				case m.State == Suspended || heldThere[string(k)] && (m.State == Ready || m.State == Active):
					lm.hold = liveOperator
				}
				live.msgs[string(k)] = lm
				return nil
			}
			// Resubmitted by the server that keeps its copy now — not
			// by the one its record names when a hold or the quarantine
			// discarded the copy there, nor when it is marked held by
			// this server only (copyKeeperTx; rt36 F1).
			if t.copyKeeperTx(m) != "" {
				return nil
			}
			var pending []string
			for _, r := range m.Rcpts {
				if r.Status == Pending {
					pending = append(pending, r.Addr)
				}
			}
			if len(pending) == 0 {
				return nil // delivered, failed, or a shadow copy held for a primary
			}
			nb := NotInBackup{ID: m.ID, From: m.From, MessageID: m.MessageID, Pending: pending, Arrived: m.ArrivedHere(), Why: t.lostWhy(m)}
			if m.Connector == pickupConnector && m.Helo != "" {
				nb.PickupFile = m.Helo
			}
			lost = append(lost, nb)
			return nil
		})
	})
	if err != nil {
		return nil, false, nil, nil
	}
	return lost, true, live, nil
}

// lostWhy says why no shadow server keeps m (copyKeeperTx naming none),
// in the words message show uses.
func (t *Tx) lostWhy(m *Message) string {
	var mark []byte
	if b := t.tx.Bucket(bucketSingle); b != nil {
		mark = b.Get(m.ID.Key())
	}
	server, since, _, marked := singleMark(mark)
	shared := (m.State == Suspended || m.State == Quarantined) && m.ShadowServer != "" && m.ShadowID != "" &&
		t.tx.Bucket(bucketOrgIDs) != nil && t.copyNeededElsewhere(m.ID, m.OrgID, m.ShadowServer, m.ShadowID)
	switch {
	case shared:
		// The hold wrote no discard (another record needed the copy),
		// but that copy is not kept now (copyKeptForSibling).
		how := "held by the operator (message suspend)"
		if m.State == Quarantined {
			how = "quarantined"
		}
		return how + ": the shadow copy on " + m.ShadowServer + " it shared with another record here is not kept there now"
	case m.State == Suspended && m.ShadowServer != "" && m.ShadowID != "":
		return "held by the operator (message suspend): its shadow copy on " + m.ShadowServer + " was discarded when it was held"
	case m.State == Suspended:
		return "held by the operator (message suspend)"
	case m.State == Quarantined && m.ShadowServer != "" && m.ShadowID != "":
		return "quarantined: its shadow copy on " + m.ShadowServer + " was discarded when it was quarantined"
	case m.State == Quarantined:
		return "quarantined"
	case marked:
		how := singleHow(mark)
		sc := SingleCopy{ID: m.ID, Lost: server, Since: since, Refused: singleRefusal(mark), How: how, TakenOver: how == HowTaken}
		return sc.String()
	}
	switch {
	case m.OwnDSN():
		return "a DSN this server made, with no shadow copy"
	case m.Connector == pickupConnector:
		return "a file of the pickup directory, with no shadow copy"
	}
	return "accepted with no shadow copy"
}

// backupIDs is the set of the message ids the backup holds.
func backupIDs(backup string) (ids map[string]bool, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			ids, err = nil, fmt.Errorf("the backup %s is damaged: %s", backup, damageText(backup, r))
		}
	}()
	f, err := lockDB(backup, false, time.Second) // openlock.go
	if err != nil {
		return nil, err
	}
	if err := checkPageTree(backup); err != nil {
		closeLocked(f)
		return nil, fmt.Errorf("the backup %s is damaged: %w", backup, err)
	}
	b, err := bolt.Open(backup, 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, ReadOnly: true}))
	if err != nil {
		return nil, inUse(backup, err)
	}
	defer b.Close()
	ids = map[string]bool{}
	err = b.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMessages)
		if mb == nil {
			return errors.New("no message table")
		}
		return mb.ForEach(func(k, _ []byte) error { ids[string(k)] = true; return nil })
	})
	return ids, err
}

// lockCounted takes the database's lock for a restore (lockFile) and,
// with counted set, gives it what the restore would leave behind
// (LostByRestore) as the database is under that lock. The count is made
// before the lock (its walk takes a shared lock of its own, which the
// restore's would exclude); a commit between the two — a daemon started
// and stopped in between — changes the database's state, and the count
// is made again, so that what counted is given is never older than the
// database the restore replaces.
func lockCounted(backup, path string, counted func([]NotInBackup, bool, *liveMessages), step func(string)) (unlock func(), err error) {
	if counted == nil {
		return lockFile(path, time.Second)
	}
	const tries = 5
	for try := 1; ; try++ {
		before := dbStateOf(path)
		l, known, busy, live, _ := lostByRestore(backup, path) // the backup's own faults: the restore names them
		step("counted")
		unlock, err := lockFile(path, time.Second)
		if err != nil {
			return nil, err
		}
		// A count another process's lock kept from being made is made
		// again under ours, as after a commit: a database locked for a
		// moment (a daemon that stopped meanwhile) is no damaged one,
		// whose contents are not known.
		if dbStateOf(path) == before && !busy {
			counted(l, known, live)
			return unlock, nil
		}
		unlock()
		if try == tries {
			return nil, fmt.Errorf("the database %s changed, or was locked by another process, between the count of what the restore would leave behind and its lock, %d times: another process writes it", path, tries)
		}
	}
}

// dbState tells one state of a database file from another: the file (a
// compaction or restore gives the name to another), its size, its time
// of change and its last transaction id (every commit moves it).
type dbState struct {
	dev, ino    uint64
	size, mtime int64
	txid        uint64
}

// dbStateOf is path's dbState; the zero value for no file or an empty
// one (the restore's lock makes an empty file where there was none).
func dbStateOf(path string) dbState {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		return dbState{}
	}
	s := dbState{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
	}
	if m, err := checkedMeta(path); err == nil {
		s.txid = m.txid
	}
	return s
}
