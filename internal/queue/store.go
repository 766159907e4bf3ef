package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// ErrClosed is returned for work handed to a closed Store.
var ErrClosed = errors.New("transport database is closed")

// ErrNotFound is returned for a message id the database does not hold.
var ErrNotFound = errors.New("no such message")

// NotFoundError refuses an object other than a message that is not here
// (a transport database id, a quarantined message), in words about that
// object: it is ErrNotFound to errors.Is — the admin API's 404, the
// CLI's exit 3 — but never says "no such message", the words of a
// message id.
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string        { return e.Msg }
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ErrDamaged is returned by Open for a file that is not a sound
// transport database: truncated, overwritten, or not a database at all.
var ErrDamaged = errors.New("transport database is damaged")

// recoverPath is what an operator does with a damaged file.
const recoverPath = "move it aside under a name of its own (mv queue.db queue.db.damaged-$(date +%s): an earlier queue.db.damaged is not replaced) and start again: umbra starts with a new, empty " +
	"database and a new database id, so the shadow servers of the messages it held resubmit them; " +
	"or restore a backup (umbra db verify BACKUP, then umbra db restore BACKUP)"

// Store is the transport database: the only code that opens bbolt and
// owns transaction boundaries. Every write goes through the group commit
// (commit.go), which folds concurrent writers into one fsync'd
// transaction run by one of them.
type Store struct {
	db   *bolt.DB
	dbID string

	peerLog atomic.Pointer[slog.Logger] // logs the retired ids the bound forgets (retiredbound.go)
	early   atomic.Pointer[Manager]     // tracks the discards kept aside that a commit applied (earlydiscardevent.go)

	restoredFrom string // see RestoredFrom
	predecessor  string // see Predecessor
	upgradedFrom byte   // see UpgradedFrom
	created      bool   // this Open made the database (spoolref.go: the spool files found are another database's)

	gc groupCommit // commit.go: the writers waiting and who commits them

	// settledHook, when set (tests only), runs in ViewSettled before
	// it waits for the commit under way.
	settledHook atomic.Pointer[func()]

	idMu     sync.Mutex
	lastID   ID // the last id handed out (or stored, at Open)
	clockAt  ID // the clock as NewID (or Open) last read it, in µs: reservations reach past it (idreserve.go)
	reserved ID // meta id_reserved as last committed: NewID hands out no id above it (idreserve.go)

	obs Observer

	spoolDir string // large bodies (body.go); beside the database file
	noSync   bool   // Options.UnsafeNoSync

	wake chan struct{} // Wake: messages became due (the scheduler listens)

	// clk is the clock of the Manager over this store (NewManager): the
	// time a commit's Put writes into the marks it makes (Tx.now).
	clk atomic.Pointer[clock.Clock]

	missingSpool []string   // spool files records name but Open did not find (MissingSpool)
	sweptSpool   int        // spool files no record named that Open removed (SpoolSwept)
	unlinkMu     sync.Mutex // held while spool files are removed, and by Backup while it links them (spoolref.go)
	spoolStats   spoolStats // failed removals to retry, and the directory's size (spoolstats.go)
	leftovers    []string   // what an interrupted restore left and Open removed (Leftovers)
	finished     []string   // what Open did to finish a restore killed after its rename (RestoreFinished)
	goneSpool    GoneSpool  // the spool directory of a gone database a new one moved aside (SpoolOfGoneDatabase)

	damagedAtOpen []DamagedRecord // records Open set aside as damaged (damaged.go)

	deferLimit time.Duration // Options.DeferLimit (UpdateDeferred)
	copies     shadowCopies  // SetShadowCopies (enteredsingle.go)
	deferredN  atomic.Int64  // deferred writers queued and not yet committed (Settle)
	// awaitedN counts the deferred writers someone may start waiting
	// for (all but UpdateLaterUnread's): only they make Flush commit.
	awaitedN atomic.Int64
	asideN   atomic.Int64 // deferred writers queued that no commit holds yet (set aside)
	noDefer  atomic.Bool  // StopDeferring: every writer commits at once from now on

	fault commitFault // commitfault.go: a commit failure tests inject

	reserve *spaceReserve // spacereserve.go: nil until StartSpaceReserve

	goneSuspended int // messages the start suspended as finished since the restored backup (restoregone.go)

	pwOnce sync.Once
	pw     *peerWaitSlots // the peer-wait slot file (peerwait.go), opened on first use
}

// Observer receives commit statistics (the metrics package implements it).
// Commit's err is the trouble that failed a commit (commit.go, trouble):
// nil when it committed, and when a writer's function refused (its
// error is a named refusal or marked Refused: its caller's answer, not
// a failed commit); any other error is trouble.
type Observer interface {
	Commit(d time.Duration, batch int, err error)
}

type nopObserver struct{}

func (nopObserver) Commit(time.Duration, int, error) {}

// Options tune Open.
type Options struct {
	// mustExist (db compact): an empty file is no database to work on,
	// refused with errEmptyDatabase, never made a database of — bbolt
	// writes a new database into an empty file it opens, and the name
	// may be a symlink the daemon's user put in the data directory
	// naming an empty file elsewhere, written so by root (opsec26).
	mustExist bool
	// killedAt (Open): the time of the side lock a killed process left
	// (waitCommands), zero when none was found: an empty queue.db not
	// older than it may be the one that process made (emptydb.go).
	killedAt time.Time
	// lockedEmpty (Open), when set, is told whether the file was empty
	// (or made) when this open took its lock: only such a file is this
	// open's to remove when making the database fails for want of room
	// (refuseNoSpace) — one found empty before the lock may be another
	// starting daemon's, holding mail by the time the lock is had.
	lockedEmpty *bool
	// UnsafeNoSync skips fsync. Only tests that do not test durability
	// may set it: a crash then loses acknowledged mail.
	UnsafeNoSync bool
	// MaxBatch bounds how many writers share one commit (default 256).
	MaxBatch int
	// DeferLimit bounds how long a writer given to UpdateDeferred waits
	// for another commit to ride along with (0: it commits at once, as
	// Update does). See UpdateDeferred.
	DeferLimit time.Duration
	Observer   Observer
	// Now is the clock Open reads to reserve ids (idreserve.go); nil:
	// time.Now. Tests set it to a clock of their own.
	Now func() time.Time
	// Log receives what Open has to tell the operator (a schema
	// upgrade: LogUpgrade); nil: nothing is logged.
	Log *slog.Logger
	// SpaceReserve, when set, is the size of the space reserve
	// (transport.space_reserve; spacereserve.go), made in the
	// database's directory before the open's own commit (init): a
	// database that holds mail and has no free page (after db compact
	// or db restore) needs new room for that commit, and on a full disk
	// it gives up the reserve for it rather than refuse the start
	// (rt45 F1). SpaceReserveLog receives the reserve's lines. nil: no
	// reserve is made here (StartSpaceReserve may make it later).
	SpaceReserve    *int64
	SpaceReserveLog *slog.Logger
	// HeldBy, when set, is asked whenever another process has held the
	// database's lock past Open's wait (2 s at first, then every
	// HeldByEvery): pid and command name it (0 and "" when the system
	// does not tell). nil goes on waiting — an offline db command
	// (restore, compact) ends, and the daemon then opens what it left
	// (rt25c F1) —; an error ends Open with it. nil HeldBy: refused as
	// in use after the first wait, as before.
	HeldBy func(pid int, command string) error
}

// heldRefused is the error Options.HeldBy ended Open with.
type heldRefused struct{ err error }

func (h *heldRefused) Error() string { return h.err.Error() }

// HeldByEvery is how often Open asks Options.HeldBy again while the
// database stays held.
const HeldByEvery = 5 * time.Second

// Open opens or creates the transport database at path. A new database
// gets a new random id; an existing one keeps its own.
//
// Opening walks every page of the file (bbolt rebuilds its free list so),
// and then the index buckets, so a truncated or overwritten file is found
// here — as ErrDamaged, with the recovery path in the message — and not
// by a crash in the middle of delivery. A read beyond a truncated file's
// end faults inside the mapping; that fault becomes an error too.
func Open(path string, o Options) (opened *Store, err error) {
	// A db command (restore, compact) holds its side lock from its
	// first step (cmdlock.go): waited for before the database is
	// looked at, named as it wrote itself.
	release, killed, err := waitCommands(path, o.HeldBy)
	if hr := (*heldRefused)(nil); errors.As(err, &hr) {
		return nil, hr.err
	}
	if err != nil {
		return nil, fmt.Errorf("transport database %w", err)
	}
	defer func() { // the database's own lock is held from here on, or Open failed
		if release() && opened != nil {
			// A killed command's side lock, removed: logged by the
			// start as every leftover (rt33c F3).
			opened.leftovers = append(opened.leftovers, CmdLockPath(path))
		}
	}()
	fresh := holdsNothing(path) // openfull.go
	var lockedEmpty bool        // and still so under the lock: this open's own
	o.killedAt = killed         // emptydb.go
	o.lockedEmpty = &lockedEmpty
	db, err := openChecked(path, o)
	if hr := (*heldRefused)(nil); errors.As(err, &hr) {
		return nil, hr.err // Options.HeldBy's own words
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("transport database %w", inUse(path, err))
	}
	if err != nil && isNoSpace(err) {
		return nil, refuseNoSpace(path, fresh && lockedEmpty, err)
	}
	if perr := permissionError("transport database", path, "", err); perr != nil { // ownership.go: not damage
		return nil, perr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v; %s", ErrDamaged, path, err, recoverPath)
	}
	snapshots := removeStaleSnapshots(path)
	leftovers, installed, err := finishRestore(db, path)
	leftovers = append(snapshots, leftovers...)
	// What the restore that wrote this database recorded, read before
	// init removes it with the backup mark (restoreStaged).
	staged, recorded := restoreStaged(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("restored spool directory beside %s: %w", path, err)
	}
	spool, err := openSpoolDir(path)
	if perr := permissionError("spool directory", filepath.Join(filepath.Dir(path), spoolDirName), "", err); perr != nil {
		db.Close()
		return nil, perr
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("spool directory beside %s: %w", path, err)
	}
	s := &Store{db: db, obs: o.Observer, wake: make(chan struct{}, 1), spoolDir: spool, noSync: o.UnsafeNoSync,
		leftovers: leftovers}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.SpaceReserve != nil {
		s.reserve = newSpaceReserve(filepath.Dir(path), *o.SpaceReserve, o.SpaceReserveLog)
	}
	err = s.init(now())
	if noRoom(err) && !(fresh && lockedEmpty) && s.reserve.release("the start's commit of a database that holds mail (its id reservation; a restore's marks)", err) {
		// A database with mail comes up on a full disk (README, A full
		// disk): its queue is what frees room once delivered.
		err = s.init(now())
	}
	if err != nil {
		db.Close()
		if fresh && lockedEmpty {
			// A first start refused: the reserve this open made goes
			// with it, as the database file does (refuseNoSpace).
			s.reserve.drop()
		}
		if isNoSpace(err) {
			return nil, refuseNoSpace(path, fresh && lockedEmpty, err)
		}
		return nil, fmt.Errorf("open transport database %s: %w", path, err)
	}
	// Before anything is served: spool files no record names are
	// garbage of a crash (spoolref.go).
	owns := staged
	if !recorded {
		owns = s.namesSpoolFiles()
	}
	if (s.created || s.restoredFrom != "") && !installed && !owns {
		// A new or restored database: the files in spool/ belong to the
		// database it replaces (kept, moved aside, or damaged): kept
		// with them, not swept. A restored database owns spool/ when
		// its restore staged a spool directory, put in place by now
		// (restoreStaged); one whose restore staged nothing never does,
		// whatever names its records keep (a SkipUnreadable backup's
		// reference of a damaged body still in spool/). Without that
		// record, one that names spool files had them put there by its
		// restore (restorespool.go).
		if spool, err = s.setSpoolAside(); err != nil {
			db.Close()
			return nil, fmt.Errorf("spool directory %s: %w", spool, err)
		}
	}
	if installed {
		s.finished = append(s.finished, "the restored spool directory put in place as "+spool)
	}
	// The restore is finished: its suffix is used. Removed here, and
	// said as every file a start deletes (lifert43 F3): a restore killed
	// at its last step (this file's removal, all else done) left it
	// beside the database it wrote, the replaced one at the name it
	// records — its end, finished now; a second restore killed before
	// its rename left it beside the first's database, still marked, its
	// second name of the live database removed (removeLiveLinks) — a
	// leftover of a restore that replaced nothing. Without the mark it
	// went with the leftovers (finishRestore).
	suffix := readAsideSuffix(path)
	if err := os.Remove(path + asideSuffixName); err == nil {
		if _, serr := os.Lstat(path + suffix); suffix != "" && serr == nil {
			s.finished = append(s.finished, "removed "+path+asideSuffixName+
				", the suffix of the replaced database's name (kept as "+path+suffix+") it kept for a start that finishes it (its last step)")
		} else {
			s.leftovers = append(s.leftovers, path+asideSuffixName)
		}
	}
	if swept, missing, err := s.sweepSpool(); err != nil {
		db.Close()
		if perr := permissionError("spool directory", spool, "", err); perr != nil {
			return nil, perr
		}
		return nil, fmt.Errorf("spool directory %s: %w", spool, err)
	} else {
		s.sweptSpool, s.missingSpool = swept, missing
	}
	maxBatch := o.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 256
	}
	s.deferLimit = max(o.DeferLimit, 0)
	s.gc.init(maxBatch)
	if o.Log != nil {
		s.LogUpgrade(o.Log)
	}
	return s, nil
}

// errEmptyDatabase is an empty file where a command needs a database
// (Options.mustExist).
var errEmptyDatabase = errors.New("the file is empty: there is no database to work on")

// openChecked opens the file and reads every index key, with faults and
// bbolt's panics on bad pages turned into errors.
func openChecked(path string, o Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// The file stays locked by this process; the caller exits.
			db, err = nil, errors.New(damageText(path, r)) // pagewalk.go: the page, bucket and key
		}
	}()
	// What the meta pages claim is checked with ordinary reads before
	// any page is read through the mapping (filecheck.go); an empty
	// file is one bbolt makes a new database of, unless the data
	// directory shows a database was there (emptydb.go).
	if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s, not a regular file", fileKind(fi.Mode()))
	}
	// The file found, not one this open makes (emptydb.go): empty now,
	// or emptied while the lock is waited for.
	var found os.FileInfo
	if fi, serr := os.Lstat(path); serr == nil && fi.Mode().IsRegular() {
		found = fi
	}
	// The lock first, then the pages (openlock.go): another process's
	// database is refused as in use before a page of it is read.
	f, err := lockDB(path, true, 2*time.Second)
	for ie := (*InUseError)(nil); o.HeldBy != nil && errors.As(err, &ie); {
		if herr := o.HeldBy(ie.PID, ie.Command); herr != nil {
			return nil, &heldRefused{herr}
		}
		f, err = lockDB(path, true, HeldByEvery)
	}
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened && f != nil {
			f.Close()
		}
	}()
	// The file locked, by its descriptor: what bbolt is given. An
	// empty one beside a spool directory is a truncated database
	// (emptydb.go), never made a new one.
	if fi, serr := f.Stat(); f != nil && serr == nil && emptyTruncated(path, found, fi, o.killedAt) {
		return nil, errEmptyTruncated
	}
	if o.lockedEmpty != nil {
		fi, serr := f.Stat()
		*o.lockedEmpty = f != nil && serr == nil && fi.Size() == 0
	}
	if o.mustExist {
		if fi, serr := f.Stat(); f == nil || serr != nil || fi.Size() == 0 {
			return nil, errEmptyDatabase
		}
	}
	if fi, serr := os.Stat(path); serr == nil && fi.Size() > 0 && fi.Size() < 4*int64(os.Getpagesize()) {
		return nil, fmt.Errorf("file of %d bytes is shorter than an empty database", fi.Size())
	} else if serr == nil && fi.Size() > 0 {
		// Every page, before bbolt's own walk of them at a writable
		// open, whose findings kill the process (pagewalk.go).
		if hookWalk != nil {
			hookWalk(path)
		}
		if err := checkPageTree(path); err != nil {
			return nil, err
		}
	}
	opened = true // bbolt closes f from here on, also when it fails
	db, err = bolt.Open(path, 0o600, boltOptsOn(f, &bolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         o.UnsafeNoSync,
	}))
	if err != nil {
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) == string(bucketMessages) || string(name) == string(bucketBodies) ||
				string(name) == string(bucketDumpster) || string(name) == string(bucketDumpBody) {
				return nil // values read on use; their pages were walked above
			}
			return b.ForEach(func(k, v []byte) error { return nil })
		})
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (s *Store) init(now time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchemaVersion); len(v) == 1 && v[0] >= 1 && v[0] < schemaVersion {
			if err := upgrade(tx, v[0]); err != nil {
				return fmt.Errorf("upgrading schema version %d to %d: %w", v[0], schemaVersion, err)
			}
			s.upgradedFrom = v[0] // an error after this rolls the upgrade back and Open fails
		} else if len(v) == 1 && v[0] > schemaVersion {
			return fmt.Errorf("%w: version %d, written by a newer release of umbra; this one knows versions 1 to %d "+
				"and does not downgrade: run that release (or a newer one), or restore a backup taken by this release",
				ErrNewerSchema, v[0], schemaVersion)
		} else if v != nil && (len(v) != 1 || v[0] != schemaVersion) {
			return fmt.Errorf("schema version %v is not %d", v, schemaVersion)
		}
		damaged, err := repairTakenIndex(tx, now) // takenindex.go; damaged.go
		if err != nil {
			return fmt.Errorf("indexing taken-over copies: %w", err)
		}
		s.damagedAtOpen = damaged
		if err := repairReportedIndex(tx); err != nil { // reportedcopy.go
			return fmt.Errorf("indexing the DSNs owed partial discards: %w", err)
		}
		if err := foldHolderNames(tx); err != nil { // holderfold.go
			return fmt.Errorf("folding the shadow servers' names: %w", err)
		}
		if err := foldPrimaryNames(tx); err != nil { // primaryfold.go
			return fmt.Errorf("folding the primaries' names: %w", err)
		}
		if err := mergeReceiptPairsAtOpen(tx); err != nil { // nexthopcopy.go, after the names are folded
			return fmt.Errorf("merging copies on receipt into the originals relayed here: %w", err)
		}
		if err := repairPeerDBIndex(tx); err != nil { // peerdb.go
			return fmt.Errorf("indexing the primaries' database ids: %w", err)
		}
		if err := repairPeerDBOrder(&Tx{tx: tx}); err != nil { // retiredbound.go
			return fmt.Errorf("ordering the servers' database ids: %w", err)
		}
		if _, err := sweepBodySums(tx); err != nil { // bodysum.go
			return fmt.Errorf("sweeping body checksums: %w", err)
		}
		if err := rewriteRequests(tx); err != nil {
			return fmt.Errorf("rewriting redelivery requests: %w", err)
		}
		if err := rewriteRedirectNames(tx); err != nil { // redirectname.go
			return fmt.Errorf("rewriting redirect queue names: %w", err)
		}
		if err := countSingleMarks(tx); err != nil { // holders.go
			return fmt.Errorf("counting the messages held by this server only: %w", err)
		}
		from, err := restoreIdentity(meta)
		if err != nil {
			return err
		}
		s.restoredFrom = from
		if from != "" {
			// The database it was restored from, kept for the holders'
			// question about the copies they took over from it
			// (takenover.go): a later start asks it too.
			if err := meta.Put(keyRestoredFrom, []byte(from)); err != nil {
				return err
			}
		}
		s.predecessor = string(meta.Get(keyRestoredFrom))
		if from != "" {
			// Its shadow copies may be of messages whose discards were
			// applied after the backup: asked about at once (heldquery.go).
			last, _ := tx.Bucket(bucketMessages).Cursor().Last()
			if last != nil {
				if err := meta.Put(keyRestoredUpTo, bytes.Clone(last)); err != nil {
					return err
				}
			}
			// The records the database it replaced can have handed on
			// are the backup's, none above it (restoredhanded.go).
			if err := meta.Put(keyRestoredHanded, append(make([]byte, 0, 8), orZeroKey(last)...)); err != nil {
				return err
			}
			// Who answered a restore of the database the backup was
			// taken of answered about another predecessor: every
			// server is asked afresh (restoredhanded.go).
			if err := meta.Delete(keyRestoredAnswered); err != nil {
				return err
			}
			// Every message of a restored backup may have been delivered
			// after the backup by the database it replaced, whose record
			// and dumpster copy are gone with it: a copy its repeat finds
			// in a mailbox is kept as a delivery (dumpster.go). A
			// redelivered message keeps its request (restoredMark).
			red := tx.Bucket(bucketRedeliver)
			if err := tx.Bucket(bucketMessages).ForEach(func(k, _ []byte) error {
				return red.Put(bytes.Clone(k), restoredMark(red.Get(k)))
			}); err != nil {
				return err
			}
		}
		// What the restore found finished in the database it replaced:
		// suspended in this commit (restoregone.go).
		if s.goneSuspended, err = applyRestoreGone(tx); err != nil {
			return fmt.Errorf("suspending the messages finished since the backup: %w", err)
		}
		if tx.Bucket(bucketBackupSums) != nil {
			// A restored backup's checksums (backupsums.go) are of
			// the file as it was written, not of this database.
			if err := tx.DeleteBucket(bucketBackupSums); err != nil {
				return err
			}
		}
		if id := meta.Get(keyDBID); id != nil {
			s.dbID = string(id)
		} else {
			var b [16]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			s.dbID = hex.EncodeToString(b[:])
			s.created = true
			for k, v := range map[string][]byte{
				string(keyDBID):          []byte(s.dbID),
				string(keySchemaVersion): {schemaVersion},
				string(keyCreated):       []byte(time.Now().UTC().Format(time.RFC3339)),
			} {
				if err := meta.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
		// Ids go on above every id this database ever stored (meta
		// id_high, kept by PutNew), not only above those still here: the
		// clock may have gone back since the newest left.
		if k, _ := tx.Bucket(bucketMessages).Cursor().Last(); len(k) == 8 {
			s.lastID = ID(binary.BigEndian.Uint64(k))
		}
		if v := meta.Get(keyIDHigh); len(v) == 8 {
			s.lastID = max(s.lastID, ID(binary.BigEndian.Uint64(v)))
		}
		// And above every id the last run may have handed out (its
		// reservation), then a reservation of this run's own, committed
		// before any id is handed out (idreserve.go).
		if v := meta.Get(keyIDReserved); len(v) == 8 {
			s.lastID = max(s.lastID, ID(binary.BigEndian.Uint64(v)))
		}
		// Past the clock by the margin, and past the last run's ids only by
		// a step: ids that start ahead of the clock (a restart within the
		// margin) do not push the next reservation a whole margin further.
		s.clockAt = ID(now.UnixMicro())
		s.reserved = s.nextReservation(s.lastID, s.clockAt)
		return meta.Put(keyIDReserved, s.reserved.Key())
	})
}

// DatabaseID is the random id made with this database. A server that
// comes back with another id has lost its queue (SPEC SR-7).
func (s *Store) DatabaseID() string { return s.dbID }

// NewID returns a fresh message id: microseconds since the epoch, bumped
// past the last id handed out and every id this database ever stored or
// reserved, so that no id is handed out twice by one database, whatever
// the clock does, across restarts and kill -9 included (idreserve.go).
// It may wait for one commit (an id past the reservation), so it is not
// for a transaction's function: there, Tx.NewID.
func (s *Store) NewID(now time.Time) ID {
	id, covered := s.nextID(now)
	if !covered {
		s.reserveIDs()
	}
	return id
}

// Update runs fn in a write transaction shared with other concurrent
// writers and returns once that transaction is committed and fsync'd, or
// failed. fn may run twice (once in a shared transaction that another
// writer made fail, once alone), so it must not have side effects outside
// the transaction; prepare ids and encodings before calling Update.
//
// Update waits for the outcome even when ctx ends after fn was queued:
// the caller must know whether its change is durable.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	return s.update(ctx, &op{fn: fn, done: make(chan error, 1)})
}

// UpdateDeferred is Update for a change nobody waits for (the results
// of an attempt no sender, shadow server or operator waits on): instead
// of a commit of its own, it rides along with the next commit another
// writer asks for, and waits at most the store's DeferLimit for one.
// Every Update commits the deferred writers that came before it, in
// their order, in its own transaction; so does Close. It returns, like
// Update, only once the change is committed and fsync'd, or failed:
// what the caller does after a durable change it still does after.
// Until then a crash loses the change — which is why only a change
// whose loss repeats work (a delivery done again, never a message
// lost) may be deferred (doc.go, "Durability and the crash argument").
func (s *Store) UpdateDeferred(fn func(*Tx) error) error {
	return s.queueDeferred(fn)()
}

// UpdateDeferredUnless is UpdateDeferred for a change someone may
// start waiting for meanwhile: once fn is queued, waited (the caller's
// question whether anyone waits for it now) is asked again, and a yes
// has the set-aside writers committed now (Flush). A waiter registers
// and then flushes (WaitGone, DiscardSignal); the caller queues and
// then asks: either the waiter's Flush finds fn queued or the question
// finds the waiter, never neither — asked only before queueing, a
// waiter registering in between found nothing to flush and fn waited
// DeferLimit.
func (s *Store) UpdateDeferredUnless(fn func(*Tx) error, waited func() bool) error {
	wait := s.queueDeferred(fn)
	if waited() {
		s.Flush()
	}
	return wait()
}

// UpdateLater is UpdateDeferred for a change whose writer need not wait
// for it either: fn is queued before UpdateLater returns (so the next
// commit any writer asks for takes it, in arrival order), and done, if
// not nil, is called with its outcome on a goroutine of its own once it
// committed or failed. Only a change whose loss at a crash repeats work,
// and whose absence until then misleads nobody, may be made this way
// (the note of a push on receipt confirmed, pushcrash.go: lost at a
// crash, the copy is made again).
func (s *Store) UpdateLater(fn func(*Tx) error, done func(error)) {
	wait := s.queueDeferred(fn)
	go func() {
		err := wait()
		if done != nil {
			done(err)
		}
	}()
}

// queueDeferred queues fn as a deferred writer (a writer like any other
// when the store defers nothing, DeferLimit 0) and returns the wait for
// its outcome: the one mechanism behind UpdateDeferred, which waits at
// once, and UpdateLater, which waits on a goroutine of its own.
func (s *Store) queueDeferred(fn func(*Tx) error) (wait func() error) {
	return s.queueDeferredAs(fn, true)
}

// queueDeferredAs is queueDeferred; awaited: someone may start waiting
// for fn's change (a Flush commits it), false for UpdateLaterUnread's.
func (s *Store) queueDeferredAs(fn func(*Tx) error, awaited bool) (wait func() error) {
	o := &op{fn: fn, done: make(chan error, 1), deferred: s.deferLimit > 0}
	s.deferredN.Add(1)
	if awaited {
		s.awaitedN.Add(1)
	}
	done := func() {
		if awaited {
			s.awaitedN.Add(-1)
		}
		s.deferredN.Add(-1)
	}
	lead, err := s.enqueue(context.Background(), o)
	if err != nil {
		done()
		return func() error { return err }
	}
	return func() error {
		err := s.await(o, lead)
		done()
		return err
	}
}

// UpdateLaterUnread is UpdateLater for a change nobody waits for or
// reads back before it commits — the forgetting of discard notifications
// a shadow server has (forgetsent.go), whose loss at a crash only sends
// them again: a Flush (a waiter registering) does not commit it early,
// nor does Manager.commitAside; it rides along with the next commit a
// writer asks for, or commits after DeferLimit (Settle, StopDeferring
// and Close commit it too). The caller keeps readers from taking what
// it changes for still true until then (forgetsent.go).
func (s *Store) UpdateLaterUnread(fn func(*Tx) error, done func(error)) {
	wait := s.queueDeferredAs(fn, false)
	go func() {
		err := wait()
		if done != nil {
			done(err)
		}
	}()
}

// awaitedAside reports whether a deferred writer someone may wait for
// is queued (Flush, Manager.commitAside).
func (s *Store) awaitedAside() bool { return s.awaitedN.Load() > 0 }

// StopDeferring ends deferral (shutdown): what is set aside commits now
// and every later writer commits at once, so a stop never waits for
// DeferLimit.
func (s *Store) StopDeferring() {
	s.noDefer.Store(true)
	s.awaitedN.Add(1) // so that Flush sends even if nothing is counted yet
	s.Flush()
	s.awaitedN.Add(-1)
}

// Settle returns once every deferred writer already sent to the commit
// loop when it is called has committed (or failed): a reader that must see what they
// wrote (an operator's command) calls it first. Nothing is committed
// when no deferred writer is under way.
func (s *Store) Settle(ctx context.Context) error {
	if s.deferredN.Load() == 0 {
		return nil
	}
	// Behind every deferred writer already sent (the channel is FIFO):
	// they are set aside or queued before it, so its commit takes them.
	return s.Update(ctx, func(*Tx) error { return nil })
}

// View runs fn in a read transaction. Values read must be copied before
// fn returns (the Tx helpers do).
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(btx *bolt.Tx) error { return fn(s.wrap(btx)) })
}

// ViewSettled is View ordered after every writer: fn runs in a write
// transaction, begun when no commit is under way, and rolled back (no
// page written, no fsync). A writer whose transaction began before it
// has committed (fn sees its change) or failed; one that begins after
// it comes after whatever the caller did before calling it. So a
// caller that publishes something in memory and then reads the store
// (start: the attempt in inDelivery, then the stored delay mark) and a
// writer that looks that something up in its transaction cannot miss
// each other, as a plain View can: its snapshot may begin before a
// writer that looked first commits. It waits for the commit under way
// (an fsync), so it is for what is rare.
func (s *Store) ViewSettled(fn func(*Tx) error) error {
	if f := s.settledHook.Load(); f != nil {
		(*f)()
	}
	btx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = btx.Rollback() }()
	return fn(s.wrap(btx))
}

// upgrade brings a file of schema version from (1 to 3) to
// schemaVersion in the transaction that opens it (see schemaVersion).
// From version 1 or 2: the delivered records, keyed on the Message-ID,
// are dropped; every message and dumpster record without an
// organisation message id gets a fresh one (its copies elsewhere carry
// none either, so nothing can match it anyway); the orgids index is
// built. From version 3 nothing is rewritten: its bodies, values of the
// body buckets, are read as they are (bodyalone.go), and only the bodies
// written from now on may be buckets of their own, which is what the
// version number tells an older release. From version 4 likewise: its
// records are read unchecked, and only those written from now on carry
// a checksum (checksum.go).
func upgrade(btx *bolt.Tx, from byte) error {
	if from < 3 {
		if err := upgradeOrgIDs(btx); err != nil {
			return err
		}
	}
	return btx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{schemaVersion})
}

// upgradeOrgIDs is the upgrade from version 1 or 2 (upgrade).
func upgradeOrgIDs(btx *bolt.Tx) error {
	for _, name := range [][]byte{bucketDelivered, bucketDelivAt} {
		if err := btx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if _, err := btx.CreateBucket(name); err != nil {
			return err
		}
	}
	idx := btx.Bucket(bucketOrgIDs)
	for _, name := range [][]byte{bucketMessages, bucketDumpster} {
		b := btx.Bucket(name)
		type rec struct{ k, v []byte }
		var redo []rec
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			m, err := decodeMessage(v)
			if err != nil {
				continue // left as it is: the operator's tools report it
			}
			if m.OrgID == "" {
				m.OrgID = orgid.New()
			}
			redo = append(redo, rec{bytes.Clone(k), m.encode()})
			if string(name) == string(bucketMessages) {
				if err := idx.Put(orgKey(m.OrgID, m.ID), nil); err != nil {
					return err
				}
			}
		}
		for _, r := range redo {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Wake tells the scheduler (the queue manager over this store) that a
// commit made messages due — a writer that is not the manager (the
// dumpster's redelivery) calls it after its commit. The store is built
// before every part that writes it, so this is the one event path from
// those writers to the scheduler: none of them holds the manager.
func (s *Store) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// hookWalk, set by a test, runs before the page walk of openChecked.
var hookWalk func(path string)
