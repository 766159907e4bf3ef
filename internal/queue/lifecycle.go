package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sys/unix"

	"umbra/internal/leftover"
)

// The life cycle of the database file: backup, restore, compaction and
// the schema version a release accepts (see doc.go, "Life cycle").

// ErrNewerSchema is returned by Open for a file written by a newer
// release: this binary does not know its schema and must not change it.
var ErrNewerSchema = errors.New("transport database has a newer schema")

// Backup writes a consistent copy of the database to w: every page as of
// one read transaction, so concurrent commits go on and are either wholly
// in the copy or not at all. size, when not nil, learns the copy's length
// before the first byte is written. The copy still carries this
// database's id; SaveBackup marks it as a backup.
//
// The read transaction never waits for w: w may be a client's socket,
// and a commit that grows the file (a new mmap) waits for every open
// read transaction, so a stopped client would stop every commit. The
// pages are first written to a snapshot file beside the database (local
// disk only), the transaction ends, and the snapshot is then copied to w
// and removed.
func (s *Store) Backup(w io.Writer, size func(int64)) (int64, error) {
	return s.BackupWith(w, BackupOptions{}, size)
}

// BackupWith is Backup with options: what to do with a spooled body
// whose file is unreadable (spoolbackup.go).
func (s *Store) BackupWith(w io.Writer, o BackupOptions, size func(int64)) (int64, error) {
	// Its errors name the database the snapshot is beside, never the
	// snapshot's own temporary name (GivenFileError).
	f, err := os.CreateTemp(filepath.Dir(s.db.Path()), snapshotName(s.db.Path())+"*")
	if err != nil {
		return 0, GivenFileError("backup: its snapshot beside", s.db.Path(), err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	var total int64
	var links *spoolLinks
	// No spool file this view names is removed before it is linked: the
	// removals after commits wait for the links (not for the copy).
	s.unlinkMu.Lock()
	locked := true
	defer func() {
		if locked { // a panic under it (linkSpooled) does not keep every removal after a commit waiting
			s.unlinkMu.Unlock()
		}
	}()
	err = s.db.View(func(tx *bolt.Tx) error {
		total = tx.Size()
		var err error
		links, err = s.linkSpooled(tx, o.SkipUnreadable)
		s.unlinkMu.Unlock()
		locked = false
		if err != nil {
			return err
		}
		_, err = tx.WriteTo(f)
		return err
	})
	if locked {
		s.unlinkMu.Unlock()
		locked = false
	}
	defer links.remove()
	if err != nil {
		return 0, GivenFileError("backup: its snapshot beside", s.db.Path(), err)
	}
	if links.any() {
		// A backup is one file: the spooled bodies go into it, in
		// pieces (spoolbackup.go), so a restored database has every
		// body.
		if total, err = links.inline(f); err != nil {
			return 0, GivenFileError("backup: its snapshot beside", s.db.Path(), err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, GivenFileError("backup: its snapshot beside", s.db.Path(), err)
	}
	if o.Unreadable != nil && len(links.unreadable) > 0 {
		o.Unreadable(links.unreadable)
	}
	if size != nil {
		size(total)
	}
	return io.Copy(w, f)
}

// removeStaleSnapshots deletes the backup snapshots (Backup) a daemon
// killed mid-backup left beside the database, and returns their names
// for the start to log (Leftovers). Open calls it with the file's lock
// held: no other process is taking a backup of it. The names are those
// of the one list (leftover.Beside) the commands refuse as a file they
// write, so no backup the operator named so is ever taken for one.
func removeStaleSnapshots(path string) []string {
	var removed []string
	for _, n := range leftover.Beside(path) {
		if n.Kind != leftover.Snapshot {
			continue
		}
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), globQuote(n.Base)+"*"))
		for _, f := range stale {
			if !n.Matches(filepath.Base(f)) {
				continue
			}
			if os.RemoveAll(f) == nil { // a snapshot file, or the directory of its spool links (spoolbackup.go)
				removed = append(removed, f)
			}
		}
	}
	return removed
}

// snapshotName is the start of the names of Backup's snapshots beside
// the database path (leftover.Snapshot), which every start removes.
func snapshotName(path string) string {
	for _, n := range leftover.Beside(path) {
		if n.Kind == leftover.Snapshot {
			return n.Base
		}
	}
	panic("leftover: no snapshot name")
}

// globQuote is s with the characters filepath.Match treats specially
// escaped.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WriteBackup saves a backup of the running database as path (SaveBackup).
func (s *Store) WriteBackup(path string) (int64, error) {
	return SaveBackup(path, func(w io.Writer) (int64, error) { return s.Backup(w, nil) })
}

// SaveBackup writes a backup to path: copy writes the database's pages
// (Store.Backup, or its stream from the daemon's admin API) into a new
// file beside path, locked until its temporary name is gone
// (CreateTemp), which is fsync'd, marked as a backup of its database id
// (meta backup_of), fsync'd again, and linked to path; the directory is
// fsync'd last. An existing path is never replaced, and a
// failure leaves no file behind. The mark is what makes a restored
// database present a new id (Open). path's directory is opened once,
// before it is checked (CheckBackupTarget), and held (CreateTempIn):
// the partial copy is made, linked to path and removed, and the
// directory synced, through that descriptor, never by a path that may
// lead elsewhere by then; a directory moved and replaced by a link (or
// another directory) at its name while the backup ran refuses it before
// the link, its partial copy removed from the directory held (rt30c F3).
func SaveBackup(path string, copy func(io.Writer) (int64, error)) (int64, error) {
	return SaveBackupIn(path, SaveOptions{}, copy)
}

// SaveOptions are what SaveBackupIn asks of its caller about the
// directory it holds.
type SaveOptions struct {
	// Place judges the directory held before anything is made in it
	// (TempInOptions.Place: db backup refuses the spool, a Maildir tree
	// and the pickup directory by their device and inode, rr-dbfix30
	// F3); its error is returned as it is.
	Place func(dir *os.File) error
	// Stale is told the partial copies of killed backups to path that
	// were removed from the directory held, and those kept (an older
	// release's), for the caller to say (db backup prints them).
	Stale func(StalePartials)
}

// SaveBackupIn is SaveBackup with o.
func SaveBackupIn(path string, o SaveOptions, copy func(io.Writer) (int64, error)) (int64, error) {
	dir := filepath.Dir(path)
	var placeErr error
	t, err := CreateTempIn(dir, TempInOptions{Prefix: partialPrefix(path), Place: func(held *os.File) error {
		if placeErr = CheckBackupTarget(path); placeErr != nil {
			return placeErr
		}
		if o.Place != nil {
			placeErr = o.Place(held)
		}
		return placeErr
	}})
	replaced := func() error {
		return fmt.Errorf("backup %s: the directory %s was replaced while the backup ran (moved, and a link or another "+
			"directory put at its name): nothing was written through the new name, and the backup was not kept", path, dir)
	}
	switch {
	case err != nil && placeErr != nil:
		return 0, placeErr
	case errors.Is(err, ErrDirReplaced):
		return 0, replaced()
	case err != nil:
		if cerr := CheckBackupTarget(path); cerr != nil {
			return 0, cerr // its words: a missing directory, a file
		}
		return 0, GivenFileError("backup", path, err)
	}
	// The copy's name goes before its lock (Close), the directory after.
	defer t.Close()
	if o.Stale != nil {
		o.Stale(t.Stale)
	}
	f := t.File
	_, err = copy(f)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return 0, GivenFileError("backup", path, err)
	}
	var size int64
	var linkErr error
	// The mark's commit is fsync'd before the copy is linked to path,
	// and the copy stays locked (bbolt given its descriptor) until its
	// temporary name is gone.
	linked := false
	err = markBackup(f, func() error {
		fi, err := f.Stat()
		if err != nil {
			linkErr = GivenFileError("backup", path, err)
			return linkErr
		}
		size = fi.Size()
		// The directory held still the one path names (else refused):
		// the link is made in it, and the file named by path there.
		// Link, not rename: a file that appeared at path meanwhile is kept.
		if err := t.Link(filepath.Base(path)); err != nil {
			switch {
			case errors.Is(err, ErrDirReplaced):
				linkErr = replaced()
			case errors.Is(err, fs.ErrExist):
				fi, _ := os.Lstat(heldPath(t.Dir(), path))
				linkErr = backupExists(path, fi)
			default:
				linkErr = GivenFileError("backup", path, err)
			}
			return linkErr
		}
		linked = true
		return nil
	})
	switch {
	case linkErr != nil:
		return 0, linkErr
	case err != nil && !linked:
		return 0, GivenFileError("backup", path, fmt.Errorf("marking the copy: %w", err))
	}
	// An error of bbolt's Close after the link (err, linked) is not the
	// backup's: its every byte was fsync'd by the mark's commit.
	if err := t.SyncDir(); err != nil {
		return 0, err
	}
	return size, nil
}

// partialPrefix is the start of the name of SaveBackup's partial copy
// of path, hidden beside it: ".FILE.partial-", then (since release 24)
// the writing process's pid, "-" and a random suffix. Since release 25
// the pid is marked "L" (MarkedTemp) and the writer holds a lock on it
// (CreateTemp), which alone tells that it still writes it; the pid is
// for the operator's eyes.
func partialPrefix(path string) string {
	return leftover.Partial(path)
}

// StalePartials are the partial copies of backups to one file that
// RemoveStalePartials found beside it: Removed, whose writer is gone
// (killed mid-copy: kill -9, an OOM kill, a lost SSH session's SIGKILL),
// and Kept, named without a writer's pid (a release before 24 wrote
// them, and may still be writing them): left alone.
type StalePartials struct {
	Removed []StalePartial
	Kept    []string
	// Unlisted is why the directory could not be listed (a directory
	// its user may write but not read, mode 0311 or 0333): a copy's
	// name holds its writer's pid and a random part, so none can be
	// found without a listing, and the caller says so (rt31c F3).
	Unlisted error
}

// StalePartial is one partial copy removed, its path and size.
type StalePartial struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// RemoveStalePartials removes the partial copies (SaveBackup) of
// backups to path that no process writes any more: a killed backup
// leaves one the size of the database, and each interrupted try
// another. A copy another live backup writes is never touched. What it
// removed and what it left is returned for the caller to say (db backup
// prints it).
func RemoveStalePartials(path string) StalePartials {
	return RemoveStaleTemps(filepath.Dir(path), partialPrefix(path), "")
}

// RemoveStaleTemps is RemoveStalePartials for any temporary file of a
// command made by CreateTemp as MarkedTemp(prefix), anything, suffix,
// in dir (message export's copy too): those whose writer is gone are
// removed, those named without a pid (an older release's) kept and
// listed.
//
// Whether a marked copy's writer is gone ("L" before its pid: release
// 25 on) is told by its lock, not by its pid (rr25 F3): CreateTemp's
// file is locked (flock) by its writer until it is linked or removed,
// and the kernel lets the lock go with the writer, however it ends. A
// pid tells nothing across pid namespaces (a backup run in a container,
// a pod or a unit with private pids, into a directory shared with the
// host: its writer's pid names no process there, and a live copy was
// removed) nor across hosts (NFS), and a pid reused by an unrelated
// process kept a dead copy forever, unseen. A copy named with a bare
// pid was written by release 24, which took no lock (os.CreateTemp): its
// free lock tells nothing, so it is removed only when its pid names no
// process here (kill(pid, 0) == ESRCH), as release 24 did — a release-24
// backup still copying during an upgrade keeps its copy (rr-sockadm25
// F3). A file another user's, which this user may not open, is left
// alone.
//
// dir is opened once and its names listed, opened and removed through
// that descriptor (removeStaleTempsIn), as the commands' own cleanup
// does in the directory they hold (CreateTempIn).
func RemoveStaleTemps(dir, prefix, suffix string) StalePartials {
	held, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrPermission) {
		return StalePartials{Unlisted: err}
	}
	if err != nil {
		return StalePartials{}
	}
	defer held.Close()
	return removeStaleTempsAt(held, dir, prefix, suffix)
}

// removeStaleTempsIn is RemoveStaleTemps in the directory held (its
// names listed, opened and removed through its descriptor).
func removeStaleTempsIn(held *os.File, prefix, suffix string) StalePartials {
	return removeStaleTempsAt(held, held.Name(), prefix, suffix)
}

func removeStaleTempsAt(held *os.File, dir, prefix, suffix string) StalePartials {
	var st StalePartials
	var found []string
	if fd, err := unix.Openat(int(held.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		st.Unlisted = &fs.PathError{Op: "open", Path: dir, Err: err}
	} else {
		d := os.NewFile(uintptr(fd), dir)
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			st.Unlisted = err
		}
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) && len(n) > len(prefix)+len(suffix) {
				found = append(found, filepath.Join(dir, n))
			}
		}
	}
	sort.Strings(found) // in name order, as a listing shows them
	for _, f := range found {
		rest := strings.TrimPrefix(filepath.Base(f), prefix)
		marked := strings.HasPrefix(rest, tempMark)
		pidText, _, ok := strings.Cut(strings.TrimPrefix(rest, tempMark), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pidText[0] == '+' {
			// Named before release 24, by a writer that took no lock:
			// whether it still writes cannot be told.
			st.Kept = append(st.Kept, f)
			continue
		}
		if !marked && (pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH) {
			continue // release 24's, unlocked: its writer lives (or may: EPERM is another user's)
		}
		if size, removed := removeUnlockedIn(held, f); removed {
			st.Removed = append(st.Removed, StalePartial{Path: f, Bytes: size})
		}
	}
	return st
}

// tempMark begins the pid in the name of a temporary file CreateTemp
// locks (MarkedTemp): release 24 wrote a bare pid and took no lock.
const tempMark = "L"

// MarkedTemp is prefix followed by this process's pid, marked as that
// of a writer that locks its file (CreateTemp), and "-": the start of
// a CreateTemp pattern whose files RemoveStaleTemps judges by their
// lock. The pid is for the operator's eyes.
func MarkedTemp(prefix string) string {
	return prefix + tempMark + strconv.Itoa(os.Getpid()) + "-"
}

// CreateTemp creates a new file in dir named as os.CreateTemp names it
// after pattern, locked (flock, exclusive) until it is closed. Its
// writer keeps it open until the file is linked to its name or removed:
// RemoveStaleTemps removes only a file whose lock it can take, so never
// one a live process writes, whatever pid namespace or host it runs in.
// A cleaner may open the new file and lock it before the writer does
// (between the creation and the lock), and then removes it: the writer
// makes another, its lock taken on the file still named so.
func CreateTemp(dir, pattern string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil && !renamedUnder(f, f.Name()) {
			return f, nil
		}
		if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) {
			os.Remove(f.Name())
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		// A cleaner holds it, or has removed it: it is not ours to use.
		f.Close()
		if try == 9 {
			return nil, fmt.Errorf("%s: every new temporary file was taken away at once (another process removes them)", dir)
		}
	}
}

// createTempIn is CreateTemp in the directory held: a new file named
// prefix, a random part and suffix, made (O_EXCL, following no link), locked,
// and checked to be still named so, through held's descriptor. Its name
// is the path under held.Name().
func createTempIn(held *os.File, prefix, suffix string) (*os.File, error) {
	for try := 0; ; try++ {
		var r [5]byte
		rand.Read(r[:])
		name := prefix + hex.EncodeToString(r[:]) + suffix
		fd, err := unix.Openat(int(held.Fd()), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) && try < 10000 {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: filepath.Join(held.Name(), name), Err: err}
		}
		f := os.NewFile(uintptr(fd), filepath.Join(held.Name(), name))
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil && !renamedUnderIn(held, f, f.Name()) {
			return f, nil
		}
		if err != nil && !errors.Is(err, unix.EWOULDBLOCK) {
			unix.Unlinkat(int(held.Fd()), name, 0)
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		// A cleaner holds it, or has removed it: it is not ours to use.
		f.Close()
		if try >= 9 {
			return nil, fmt.Errorf("%s: every new temporary file was taken away at once (another process removes them)", held.Name())
		}
	}
}

// removeUnlocked removes the file at path when its lock can be taken —
// no process writes it (CreateTemp) — and path still names the file
// locked; it returns its size. A file this user may not open, one that
// is not a regular file, and one whose lock is held are left.
func removeUnlocked(path string) (int64, bool) {
	return removeUnlockedIn(nil, path)
}

// removeUnlockedIn is removeUnlocked of path's last name in dir, held
// (nil: path itself), opened and removed through its descriptor.
func removeUnlockedIn(dir *os.File, path string) (int64, bool) {
	const flags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC // a FIFO or a link under the name is no partial copy
	dirfd, at := unix.AT_FDCWD, path
	if dir != nil {
		dirfd, at = int(dir.Fd()), filepath.Base(path)
	}
	fd, err := unix.Openat(dirfd, at, unix.O_RDWR|flags, 0)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) {
		fd, err = unix.Openat(dirfd, at, unix.O_RDONLY|flags, 0) // a read-only file of this user's (flock needs no write access)
	}
	if err != nil {
		return 0, false
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // after the removal: the lock is held until the name is gone
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return 0, false // its writer lives
	}
	if renamedUnderIn(dir, f, path) || removeNameIn(dir, path) != nil {
		return 0, false
	}
	return fi.Size(), true
}

// backupExists words the refusal of a backup to path, which exists (fi,
// nil when it went again): a directory is said to be one, with the way
// to write into it; anything else is a file that is never replaced.
func backupExists(path string, fi fs.FileInfo) error {
	if fi != nil && fi.IsDir() {
		return fmt.Errorf("backup %s: is a directory; name a new file (in it: %s)", path, filepath.Join(path, "queue.backup"))
	}
	return fmt.Errorf("backup %s: the file exists; name a new file", path)
}

// CheckBackupTarget refuses a backup file SaveBackup would refuse, one
// that exists or whose directory does not, naming the file as given
// (GivenFileError): the CLI asks it before it asks the daemon for a
// copy, which would be written for nothing.
func CheckBackupTarget(path string) error {
	if fi, err := os.Lstat(path); err == nil {
		return backupExists(path, fi)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return GivenFileError("backup", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("backup %s: %s is not a directory", path, dir)
	}
	return nil
}

// markBackup records in a copy's meta bucket which database it is a
// backup of, and the checksums of the copy's content (sealBackup). A
// file opened with that mark was restored: Open gives it a new id. f is
// the copy, locked (CreateTemp): bbolt is given its descriptor, so its
// own lock succeeds at once and the copy is never unlocked before
// bbolt's Close, which closes f. then runs after the mark's commit
// (fsync'd), before that Close: the copy is linked to its name and its
// temporary name removed while it is still locked. then's error is
// returned as it is.
func markBackup(f *os.File, then func() error) error {
	db, err := bolt.Open(f.Name(), 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}))
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || meta.Get(keyDBID) == nil {
			return errors.New("the copy is not a transport database")
		}
		v := append(bytes.Clone(meta.Get(keyDBID)), 0)
		v = append(v, time.Now().UTC().Format(time.RFC3339)...)
		if err := meta.Put(keyBackupOf, v); err != nil {
			return err
		}
		// Last: the checksums cover the mark too (backupsums.go).
		return sealBackup(tx)
	})
	if err == nil {
		err = then()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// restoreIdentity runs in the transaction that opens the database: a
// file carrying a backup mark was restored from a backup, and the
// shadow servers hold copies of messages its original acknowledged after
// the backup. It gets a new database id, so that they resubmit those
// (SR-7), and loses the mark in the same commit. It returns the id of
// the database the backup was taken of, or "".
func restoreIdentity(meta *bolt.Bucket) (string, error) {
	v := meta.Get(keyBackupOf)
	if v == nil {
		return "", nil
	}
	from, _, _ := bytes.Cut(v, []byte{0})
	from = bytes.Clone(from)
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	if err := meta.Put(keyDBID, []byte(hex.EncodeToString(b[:]))); err != nil {
		return "", err
	}
	if err := meta.Delete(keyRestoreID); err != nil { // its restore is finished (restorespool.go)
		return "", err
	}
	if err := meta.Delete(keyRestoreStaged); err != nil {
		return "", err
	}
	return string(from), meta.Delete(keyBackupOf)
}

// UpgradedFrom is the schema version Open upgraded the file from, with
// this release's, or 0, 0 where it upgraded nothing (a new file, or one
// of this version). A release of the old version refuses the upgraded
// file: Open logs the way back (LogUpgrade) to Options.Log.
func (s *Store) UpgradedFrom() (from, to int) {
	if s.upgradedFrom == 0 {
		return 0, 0
	}
	return int(s.upgradedFrom), schemaVersion
}

// LogUpgrade logs, once a WARN line, that Open upgraded the schema, in
// the one wording every command uses for it (UpgradeNote): both
// versions and the way back. Nothing when nothing was upgraded.
func (s *Store) LogUpgrade(log *slog.Logger) {
	if from, to := s.UpgradedFrom(); from != 0 {
		log.Warn("transport database schema upgraded: "+UpgradeNote(from), "from_version", from, "to_version", to)
	}
}

// UpgradeNote is what an upgrade from schema version from means for the
// operator — a release of the old version refuses the upgraded file, and
// the way back: db compact --schema N from version 3 or 4, a backup taken
// before from 1 or 2 (README, Upgrades and rollback). The start that
// upgrades logs it (LogUpgrade); a command that opens an older file
// without upgrading it (db compact, verify, restore) prints it.
func UpgradeNote(from int) string {
	if from >= 3 {
		return fmt.Sprintf("a release of the old version refuses the file; roll back to it with umbra db compact --schema %d first", from)
	}
	return "the upgrade from this version is one way; a rollback to a release of it needs a backup taken before the upgrade (umbra db restore)"
}

// QuarantineSchema is the schema version some of whose releases came
// before the quarantine: its record format (recordVersionQuarantine)
// was introduced while the schema was version 3, so a release of
// version 3 may refuse a quarantined record as damaged; every release
// of version 4 or later reads it.
const QuarantineSchema = 3

// QuarantinedRecordsOf counts the quarantined message records of the
// database at path (umbra stopped): records of the format a release
// before the quarantine cannot read (db compact --schema 3 names them).
func QuarantinedRecordsOf(path string) (n int, err error) {
	err = viewStopped(path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			if len(v) > 0 && v[0]&^recordSummed == recordVersionQuarantine {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// viewStopped runs fn in a read-only transaction of the database (or
// backup) at path, umbra stopped: its lock taken first, its size checked
// against its meta pages before bbolt maps it (checkBoltFile), and a
// page fault or bbolt's panic on a bad page recovered as the error that
// names the damage (as BackupOrigin does).
func viewStopped(path string, fn func(tx *bolt.Tx) error) (err error) {
	f, err := lockDB(path, false, time.Second) // before its meta pages are read (openlock.go)
	if err != nil {
		return err
	}
	if err := checkBoltFile(path); err != nil {
		closeLocked(f)
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s is damaged: %s", path, damageText(path, r))
		}
	}()
	db, err := bolt.Open(path, 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, ReadOnly: true}))
	if err != nil {
		return inUse(path, err)
	}
	defer db.Close()
	return db.View(fn)
}

// SchemaVersion is the schema version this release writes.
const SchemaVersion = schemaVersion

// SchemaOf reads the schema version of the transport database (or
// backup) at path, opened read-only: 0 for a file that names none. A
// damaged file is an error, never a crash: its size is checked against
// its meta pages before bbolt maps it (checkBoltFile), and a page fault
// or bbolt's panic on a bad page is recovered (as BackupOrigin does).
func SchemaOf(path string) (v int, err error) {
	err = viewStopped(path, func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if b := meta.Get(keySchemaVersion); len(b) == 1 {
				v = int(b[0])
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return v, nil
}

// RestoredFrom is the database id of the database this one was restored
// from, when this Open made its new id; "" otherwise.
func (s *Store) RestoredFrom() string { return s.restoredFrom }

// Compact rewrites the database file at path without its free pages (a
// drained backlog leaves the file at its largest size) and reports the
// sizes before and after. It takes the file's lock first, so it refuses
// while the daemon (or anything else) has the database open, and it
// replaces the file only with a complete, fsync'd copy: a crash leaves
// the old file or the new one.
func Compact(path string) (before, after int64, err error) {
	return CompactSpooling(path, 0)
}

// CompactSpooling is Compact that also moves every body stored whole and
// larger than threshold (transport.spool_threshold; 0 is
// DefaultSpoolThreshold) into a spool file (restorespool.go): a
// database written before large messages were streamed, or restored by
// a release that did not do it, holds them whole, and delivery would
// read each into memory. The files are durable before the compacted copy
// names them, and the copy takes the database's name only after; a crash
// before that leaves files no record names, which the next Open removes;
// a failure removes them itself. Run as root, it gives the database's
// owner to what it wrote (ownership.go) — the copy, its spool files, a
// spool directory it made — before the rename, and to a spool directory
// that was there already only after it: a failed compaction changes no
// owner or mode of anything that was there.
func CompactSpooling(path string, threshold int64) (before, after int64, err error) {
	return CompactTo(path, threshold, 0)
}

// ErrCompactSchema is CheckCompactSchema's refusal: a schema version
// compaction does not write.
var ErrCompactSchema = fmt.Errorf("compaction writes the layout of schema version 4 or 3 for a rollback to a release of that version, "+
	"or, without --schema, keeps the file's own version; it upgrades no file (umbra serve upgrades it to version %d at its start)", schemaVersion)

// CheckCompactSchema refuses a schema version CompactTo does not write
// (0: the file's own): the CLI asks before it opens anything, and
// refuses it as a usage error. This release's own version is no target
// either: a compaction keeps the file's version, and one of an older
// version (a rollback's copy) would be written as it was, not upgraded
// — Open upgrades it.
func CheckCompactSchema(schema int) error {
	if schema != 0 && schema != 3 && schema != 4 {
		return fmt.Errorf("schema version %d: %w", schema, ErrCompactSchema)
	}
	return nil
}

// CompactTo is CompactSpooling that writes the compacted copy in the
// layout of schema version schema: 0 keeps the file's own, 4 writes
// every record without its checksum (checksum.go), 3 does that and
// writes every body stored in a bucket of its own as a value again
// (bodyalone.go), so that a release of version 4 or 3 reads the file — the
// way back for a rollback (README, "Upgrades and rollback"). The
// database takes the copy's name only once it is whole and durable.
func CompactTo(path string, threshold int64, schema int) (before, after int64, err error) {
	return CompactWith(path, threshold, schema, CompactOptions{})
}

// CompactOptions add to a compaction what the caller learns under its
// lock.
type CompactOptions struct {
	// FileSchema, when set, is given the schema version of the file
	// compacted, read under the db commands' side lock (cmdlock.go) with
	// the rest of the file, before the copy is written: umbra db compact
	// notes an older one from it, not from a read before the lock
	// (ops27 3), which could be of a file another db command was about
	// to replace, and held the database's lock a serve starting then
	// needed.
	FileSchema func(v int)
	// DirReplaced, when set, is told, once the compacted copy has the
	// database's name, that the data directory's path no longer names
	// the directory the compaction held and worked in (moved, and a
	// link or another directory put at its name while it ran): heldNow
	// is where that directory is now ("" when not known). The sizes
	// returned are of the file there.
	DirReplaced func(heldNow string)
}

// CompactWith is CompactTo with options.
func CompactWith(path string, threshold int64, schema int, o CompactOptions) (before, after int64, err error) {
	if err := CheckCompactSchema(schema); err != nil {
		return 0, 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	// The data directory, walked under safepath.go's rule once and held
	// (as db restore holds it) from the first step: the side lock is
	// taken and removed, the spool files are written, given their owner
	// and removed, a spool directory made is removed, and the copy
	// renamed over the database, through this descriptor; a directory
	// moved and replaced by a link at its name meanwhile (the daemon's
	// user may, in a directory of its own, while root compacts) refuses
	// the compaction before its rename (stillAt), and one replaced after
	// it is told (DirReplaced).
	dataDir := filepath.Dir(path)
	held, err := openDirChecked(dataDir, nil, nil, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("compaction of %s: opening the data directory: %w (the database is unchanged)", path, err)
	}
	defer held.Close() // after the side lock's removal (deferred below)
	heldFd := int(held.Fd())
	// Its lock before anything of the database is read (cmdlock.go): a
	// daemon started now waits for the compaction.
	unlockCmd, killedAt, err := lockCommand(held, path, time.Second)
	if DBCommandHolder(err) {
		return 0, 0, fmt.Errorf("transport database %w, another db command: run the compaction when it has ended (the database is unchanged)", err)
	}
	if errors.Is(err, ErrInUse) {
		return 0, 0, fmt.Errorf("transport database %w (stop umbra first): compaction works on a stopped server", err)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("compaction of %s: %w (the database is unchanged)", path, err)
	}
	defer unlockCmd()
	defer func() {
		if compactStep != nil {
			compactStep("end") // before the side lock goes
		}
	}()
	if compactStep != nil {
		compactStep("begin")
	}
	// A database reached through a symlink is not compacted (rt30c F4):
	// the copy would take the link's name, a file in the data directory,
	// and the database the link leads to would stay there, whole — put
	// back, its mail is delivered again.
	if err := linkedDatabase(held, path, "umbra db compact"); err != nil {
		return 0, 0, err
	}
	if err := finishKilledRestoreIn(held, path); err != nil {
		return 0, 0, fmt.Errorf("compaction of %s: finishing the restore that was interrupted after it replaced the database: %w (the database is unchanged)", path, err)
	}
	opts := &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
	// The same check as Open: a damaged file is reported as serve
	// reports it, never with a panic. Read in the directory held
	// (heldPath), as everything the compaction writes is: a directory
	// swapped at the name between the hold and this read, and swapped
	// back before the rename's check, must not have it compact another
	// database and rename that copy over this one.
	// killedAt: an empty file a killed process made is no truncated
	// database, but no database (emptydb.go).
	src, err := openChecked(heldPath(held, path), Options{mustExist: true, killedAt: killedAt})
	if ie := (*InUseError)(nil); errors.As(err, &ie) {
		ie.Path = path // as the operator knows it, not heldPath's /proc/self/fd/N (rt31c F4)
	} else if err != nil {
		err = &heldError{heldText(held, path, err.Error()), err} // the operator knows path
	}
	if st, serr := statIn(held, path); serr == nil {
		before = st.Size
	} else {
		before = fi.Size()
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("transport database %w (stop umbra first): compaction works on a stopped server", inUse(path, err))
	}
	if errors.Is(err, errEmptyDatabase) {
		// The empty file a killed process made (a db restore killed while
		// it held it where there was no database, a start killed before
		// its first pages), found with its side lock: removed, as that
		// process would have removed it or made a database in it. Kept,
		// the start after this compaction, which removes the side lock
		// that told whose it was, refused it as a truncated database
		// (rrlife39 F4).
		if st, serr := statIn(held, path); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 &&
			madeAfterTime(time.Unix(st.Mtim.Unix()), killedAt) && unix.Unlinkat(heldFd, filepath.Base(path), 0) == nil {
			unix.Fsync(heldFd)
			return 0, 0, fmt.Errorf("compaction of %s: %w: it was the empty file a killed db restore or start left, "+
				"removed; umbra's next start makes the database", path, err)
		}
		return 0, 0, fmt.Errorf("compaction of %s: %w (the database is unchanged)", path, err)
	}
	if perr := permissionError("transport database", path, "umbra db compact", err); perr != nil { // ownership.go: not damage
		return 0, 0, perr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %v; %s", ErrDamaged, path, err, recoverPath)
	}
	defer src.Close()
	// A newer release's file: its copy would be written in this
	// release's layout (spool files, bodies), which that release may not
	// read. Refused before anything is written, as Open refuses it.
	fileSchema := 0
	if err := src.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if v := meta.Get(keySchemaVersion); len(v) == 1 && v[0] > schemaVersion {
				return fmt.Errorf("%w: %s is of schema version %d, written by a newer release of umbra; this one knows versions 1 to %d "+
					"and does not compact it: compact it with that release (the database is unchanged)", ErrNewerSchema, path, v[0], schemaVersion)
			} else if len(v) == 1 {
				fileSchema = int(v[0])
			}
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	if o.FileSchema != nil && fileSchema != 0 {
		o.FileSchema(fileSchema)
	}
	tmp := path + ".compact"
	// A second name of this very file a killed restore left would name
	// the old file once the copy takes path's name (restorespool.go).
	if _, err := removeLiveLinksIn(held, path); err != nil {
		return 0, 0, fmt.Errorf("compaction of %s: removing what a killed restore left: %w (the database is unchanged)", path, err)
	}
	// A crashed compaction's partial copy, or a link planted at the
	// name, removed and the file made afresh (datadirfiles.go), in the
	// directory held: the copy is made, opened again, given its owner,
	// locked and removed through its descriptor, never by its path.
	dst, err := createFreshBoltIn(held, tmp, opts)
	if err != nil {
		removeIn(held, tmp) // bbolt creates the file before it writes its first pages
		return 0, 0, fmt.Errorf("compaction of %s: %w (the database is unchanged)", path, err)
	}
	damaged, err := compactChecked(dst, src)
	if damaged {
		dst.Close()
		removeIn(held, tmp)
		return 0, 0, fmt.Errorf("%w: %s: %v; %s", ErrDamaged, path, heldText(held, path, err.Error()), recoverPath)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	var respooled []string
	spool := filepath.Join(filepath.Dir(path), spoolDirName)
	_, serr := statIn(held, spool)
	spoolThere := !errors.Is(serr, unix.ENOENT) // else respoolInline makes it: this compaction's, as the files it writes
	madeSpool := !spoolThere                    // removed on failure until the copy has the database's name
	owner := databaseOwnerIn(held, path)
	if err == nil {
		respooled, err = respoolInline(tmp, held, spool, threshold, false)
	}
	if err == nil && len(respooled) > 0 {
		// A restored database not started since whose restore staged
		// nothing owns the spool files this compaction wrote for it.
		var cdb *bolt.DB
		if cdb, err = openOwnBoltIn(held, tmp, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}); err == nil {
			err = cdb.Update(func(tx *bolt.Tx) error {
				if meta := tx.Bucket(bucketMeta); meta != nil && string(meta.Get(keyRestoreStaged)) == "0" {
					return meta.Put(keyRestoreStaged, []byte("1"))
				}
				return nil
			})
			if cerr := cdb.Close(); err == nil {
				err = cerr
			}
		}
	}
	if compactStep != nil {
		compactStep("respooled")
	}
	if err == nil {
		err = stillAt(held, dataDir)
	}
	if err == nil && (schema == 3 || schema == 4) {
		err = recordsUnsummed(held, tmp) // checksum.go
	}
	if err == nil && schema == 3 {
		err = bodiesAsValues(held, tmp)
	}
	// The spool directory the files were written in, opened once
	// without following it should it be a symlink now (openDirAt): the
	// daemon's user may swap it for a link while this runs, as root.
	// The files' owner is given, and a failure removes them, through
	// this descriptor, never by a path through the name.
	var spoolDir *os.File
	if err == nil && len(respooled) > 0 {
		spoolDir, err = openDirAt(held, spool, false)
	}
	if spoolDir != nil {
		defer spoolDir.Close()
	}
	defer func() {
		if err != nil {
			if spoolDir == nil && len(respooled) > 0 { // refused before it was opened (stillAt)
				if d, derr := openDirAt(held, spool, false); derr == nil {
					spoolDir = d
					defer d.Close()
				}
			}
			for _, name := range respooled {
				if spoolDir != nil {
					unix.Unlinkat(int(spoolDir.Fd()), name, 0)
				}
			}
			if madeSpool { // empty now: only this compaction's files were in it
				unix.Unlinkat(heldFd, spoolDirName, unix.AT_REMOVEDIR)
			}
		}
	}()
	if err == nil {
		// The owner of the file replaced, for the copy and the bodies
		// it spooled (ownership.go): run as root, they would be root's.
		// Only what this compaction wrote — the copy, its spool files,
		// a spool directory it made — before the rename: a failure
		// removes them, and nothing that was there is changed.
		err = giveOwnerAt(held, filepath.Base(tmp), owner)
		for _, name := range respooled {
			if err == nil {
				err = giveOwnerAt(spoolDir, name, owner)
			}
		}
		if err == nil && len(respooled) > 0 && !spoolThere {
			err = giveOwnerOpenDir(spoolDir, owner) // its files are the ones above
		}
	}
	if err == nil {
		// The copy is locked before it takes the database's name (as a
		// restore's is): the name stays locked at every moment, after
		// the rename by this lock, so a daemon starting waits and a
		// command says a db command runs while the spool directory is
		// given its owner below.
		var unlockNew func()
		if unlockNew, err = lockOwnCopyIn(held, tmp, time.Second); err == nil {
			defer unlockNew()
		}
	}
	if err == nil {
		err = stillAt(held, dataDir) // the commit point: still the directory held
	}
	if err == nil && compactRename != nil {
		err = compactRename(tmp, path)
	} else if err == nil {
		err = syncRenameAt(held, tmp, path)
	}
	if err != nil {
		unix.Unlinkat(heldFd, filepath.Base(tmp), 0)
		return 0, 0, fmt.Errorf("compaction of %s: %w (the database is unchanged)", path, err)
	}
	spooled := len(respooled) > 0
	respooled, madeSpool = nil, false // named by the database now
	if compactStep != nil {
		compactStep("renamed")
	}
	// The size of the file renamed, in the directory held: the path may
	// lead elsewhere by now.
	var renamedSt unix.Stat_t
	if err := unix.Fstatat(heldFd, filepath.Base(path), &renamedSt, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, 0, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := unix.Fsync(heldFd); err != nil {
		return 0, 0, fmt.Errorf("compaction of %s: the compacted database is in place, but its directory could not be synced: %w", path, err)
	}
	// A spool directory that was there already (the daemon's) holds the
	// files the database now names: it gets the owner only now that the
	// compaction took place (the directory alone: the files it spooled
	// have theirs, the others are not this compaction's).
	if spooled && spoolThere {
		if err := giveOwnerOpenDir(spoolDir, owner); err != nil {
			return 0, 0, fmt.Errorf("compaction of %s: the compacted database is in place, but its spool directory: %w", path, err)
		}
	}
	if o.DirReplaced != nil && stillAt(held, dataDir) != nil {
		o.DirReplaced(heldDirNow(held))
	}
	return before, renamedSt.Size, nil
}

// compactStep, set by a test only, is called at each step of a
// compaction (the point named), from the process compacting. nil in
// umbra.
var compactStep func(point string)

// compactRename gives the compacted copy the database's name (a test
// makes it fail).
var compactRename func(tmp, path string) error // nil: syncRenameAt in the data directory held

// compactChecked copies src into dst (bolt.Compact) with bbolt's panics
// and faults on bad pages of src, and the faults tx.Check finds in src,
// reported as damage.
func compactChecked(dst, src *bolt.DB) (damaged bool, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			damaged, err = true, errors.New(damageText(src.Path(), r)) // pagewalk.go: the page, bucket and key
		}
	}()
	if err := checkPages(src); err != nil {
		return true, err
	}
	return false, bolt.Compact(dst, src, 64<<20)
}

// checkPages reads every bucket, key and value of db in this goroutine
// (bbolt's tx.Check runs in a goroutine of its own, whose panic on a bad
// page no recover here can catch), so that a bad page is met under the
// caller's panic and fault guard. It returns the first fault found.
func checkPages(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		seen := map[uint64]bool{}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walkBucket(b, seen, 1) })
	})
}

func walkBucket(b *bolt.Bucket, seen map[uint64]bool, depth int) error {
	// A damaged file can make a sub-bucket's root point back at a bucket
	// on the way down: without a bound the walk recurses until the stack
	// overflows, which no recover catches.
	if depth > maxBucketDepth {
		return fmt.Errorf("buckets nested deeper than %d: damaged", maxBucketDepth)
	}
	if root := uint64(b.Root()); root != 0 {
		if seen[root] {
			return fmt.Errorf("bucket page %d reached twice: damaged", root)
		}
		seen[root] = true
	}
	var sum byte
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walkBucket(nb, seen, depth+1)
			}
			return nil
		}
		for _, c := range v { // touch every byte: a page beyond the file faults here
			sum ^= c
		}
		return nil
	})
}

// maxBucketDepth bounds the nesting checkPages follows: umbra's own
// layout nests buckets a few levels deep.
const maxBucketDepth = 16

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Restore puts the backup at backup in place of the database at path,
// with the server stopped: it refuses a file that is not a backup made
// by SaveBackup (its mark is what gives the restored database a new id),
// a backup whose pages or content are damaged (every page read, every
// value checked against the checksums recorded when it was written:
// backupsums.go), a backup that carries no checksums (ErrNoChecksums;
// see RestoreWith), and a database that is in use; the database it
// replaces is kept as path.replaced-TIME, never deleted, and the spool
// directory beside it (its spooled bodies) as spool.replaced-TIME, the
// same suffix (a -N added when an earlier restore took the name). Every
// body over RestoreOptions.SpoolThreshold goes back into a spool file,
// and the copy is compacted (restorespool.go). The copy is fsync'd
// and locked before it takes path's name, and stays locked until the
// restore ends (a start waits; the name is never unlocked meanwhile). It returns the name the
// old file was kept under ("" when there was none).
func Restore(backup, path string) (kept string, err error) {
	return RestoreWith(backup, path, RestoreOptions{})
}

// restoreStep, set by a test only, is called at each step of a restore
// (the point named), from the process restoring: the test kills it
// there (restorekill_test.go). nil in umbra.
var restoreStep func(point string)

// RestoreOptions relax Restore.
type RestoreOptions struct {
	// Unverified restores a backup that carries no checksums (written
	// by an umbra release that did not record them): its pages are
	// still read, but a changed byte in a value is not found.
	Unverified bool
	// SpoolThreshold is transport.spool_threshold of the server the
	// database is restored for: a body larger than it goes into a spool
	// file again (restorespool.go). 0 is DefaultSpoolThreshold.
	SpoolThreshold int64
	// Owner, when set, is the user and group the restored files are
	// given (db restore --owner) instead of the owner of the database
	// they replace (ownership.go). They are new files: nothing that
	// exists changes owner, so a refused restore changes none.
	Owner *Owner
	// GiveDataDir, with Owner: the data directory (path's) and the
	// spool directory the restored database uses are given to Owner
	// too (db restore --owner) — the data directory just before the
	// copy takes the database's name (given back when that rename
	// fails), the spool directory before the restore lets go of the
	// name's lock — so that the daemon's user can open the database
	// from the moment it has the name. The files kept aside
	// (path.replaced-TIME, spool.replaced-TIME) keep their owner.
	GiveDataDir bool
	// Lost, when set, is given what the database replaced holds that
	// the backup lacks and no shadow server keeps (LostByRestore), as
	// the database is when the restore holds its lock: counted again
	// when a commit came between the count and the lock. An error it
	// returns refuses the restore, returned as it is, nothing replaced —
	// once the backup's copy has passed its check: a damaged backup is
	// refused as damaged first.
	Lost func(lost []NotInBackup, known bool) error
	// Gone, when set, has the restore compare the other way: the
	// messages the backup holds, with recipients to deliver, that the
	// replaced database — read, so known — no longer holds (finished
	// there after the backup) are restored suspended, and Gone is given
	// them once the restored copy has the database's name (restoregone.go).
	// With the replaced database absent or unreadable it is not called:
	// every message is restored as it was.
	Gone func(gone []GoneSinceBackup)
	// Holds, when set with Gone, is given the holds of the replaced
	// database the restore keeps (restoregone.go): the messages of the
	// backup it holds suspended by the operator (message suspend, or a
	// restore's hold it recorded for its start), restored suspended, and
	// the queues it holds suspended (queue suspend) that the backup does
	// not, restored suspended; called with Gone.
	Holds func(held []GoneSinceBackup, queues []string)
	// Begun, when set, is called once the restore holds its lock, before
	// it reads anything (a test holds the command there).
	Begun func()
	// Server, when set, is this server's name: a backup of another
	// server is refused (CheckBackupOrigin; db restore without --force),
	// checked under the restore's lock with the backup's other checks
	// — not before the lock (ops27 3), where the refusal was of a file
	// read while another db command ran.
	Server string
	// BackupSchema, when set, is given the backup's schema version once
	// it is checked, under the lock: the restored database keeps it
	// (db restore notes an older one from it; a read of the restored
	// file after the lock held the database's lock a serve waiting for
	// the restore needed).
	BackupSchema func(v int)
	// DirReplaced, when set, is told, once the restored copy has the
	// database's name, that the data directory's path no longer names
	// the directory the restore held and worked in (moved, and a link or
	// another directory put at its name while it ran): heldNow is where
	// that directory is now ("" when not known). The restore is done
	// there; the path leads to a database it did not change.
	DirReplaced func(heldNow string)
	// Interrupted, when set, is asked between the steps before the
	// restored copy takes the database's name (a signal such as Ctrl-C
	// came): true stops the restore there, what it made removed, with
	// ErrInterrupted. After the rename the restore finishes its work.
	Interrupted func() bool
}

// ErrInterrupted is the error of a restore stopped by
// RestoreOptions.Interrupted before it replaced the database.
var ErrInterrupted = errors.New("interrupted")

// RestoreWith is Restore with options.
func RestoreWith(backup, path string, o RestoreOptions) (kept string, err error) {
	step := func(point string) {
		if restoreStep != nil {
			restoreStep(point)
		}
	}
	stopped := func() bool { return o.Interrupted != nil && o.Interrupted() }
	errStopped := fmt.Errorf("restore: %w before it replaced the database; what it made is removed. The database is unchanged", ErrInterrupted)
	// The data directory, walked under safepath.go's rule once and held
	// from the first step: the side lock's making and removal, the
	// copy's rename over the database, the replaced database's second
	// name, the restored spool's installation and the replaced spool's
	// move aside go through this descriptor, never through the path,
	// and a directory moved and replaced by a link at its name meanwhile
	// (the daemon's user may, in a directory of its own, while root
	// restores) refuses the restore before anything is replaced
	// (stillAt); one replaced after the rename is told (DirReplaced).
	dataDir := filepath.Dir(path)
	held, err := openDirChecked(dataDir, nil, nil, nil)
	if err != nil {
		return "", fmt.Errorf("restore: opening the data directory: %w. The database is unchanged", err)
	}
	defer held.Close() // after the side lock's removal (deferred below)
	heldFd := int(held.Fd())
	// Its lock before anything is read (cmdlock.go): a daemon started
	// while the backup is checked and counted waits for the restore,
	// instead of opening the database first and the restore then being
	// refused as in use.
	unlockCmd, killedAt, err := lockCommand(held, path, time.Second)
	if DBCommandHolder(err) {
		return "", fmt.Errorf("restore: transport database %w, another db command: run the restore when it has ended. The database is unchanged", err)
	}
	if errors.Is(err, ErrInUse) {
		return "", fmt.Errorf("restore: transport database %w (stop umbra first)", err)
	}
	if err != nil {
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	defer unlockCmd()
	// The empty queue.db a killed process made, found with its side
	// lock: made this restore's own by its time, so that this restore,
	// killed too, leaves it a start still takes for the killed
	// process's (emptydb.go), not for a truncated database older than
	// the side lock this restore has just written (rrlife39 F3).
	if st, err := statIn(held, path); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 &&
		madeAfterTime(time.Unix(st.Mtim.Unix()), killedAt) {
		unix.UtimesNanoAt(heldFd, filepath.Base(path), nil, unix.AT_SYMLINK_NOFOLLOW)
	}
	defer step("end") // before the side lock goes
	step("begin")
	if o.Begun != nil {
		o.Begun()
	}
	// A database reached through a symlink is not replaced (rt30c F4):
	// the copy would take the link's name, and the database the link
	// leads to would be kept nowhere the restore names (no
	// queue.db.replaced-TIME), with the messages it holds beyond the
	// backup. Refused before the backup is read or anything counted.
	if err := linkedDatabase(held, path, "umbra db restore"); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	// An earlier restore killed after its rename, umbra not started
	// since: its bodies wait in spool.restore, which this restore would
	// remove as a leftover below. It is finished first, as a start would
	// (rt31c F1's sibling).
	if err := finishKilledRestoreIn(held, path); err != nil {
		return "", fmt.Errorf("restore: finishing the restore that was interrupted after it replaced the database: %w. The database is unchanged", err)
	}
	// What the backup's meta pages claim, and its page tree (a key out
	// of order kills the process at the copy's writable open), with
	// ordinary reads, before any of its pages is read through bbolt's
	// mapping (filecheck.go, pagewalk.go).
	if err := checkPageTree(backup); errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("restore: %w", err)
	} else if errors.Is(err, errNoDatabaseFile) {
		return "", fmt.Errorf("restore: %s is not a backup made by umbra db backup: %w. The database is unchanged", backup, err)
	} else if err != nil {
		return "", fmt.Errorf("restore: the backup %s is damaged: %v. The database is unchanged: restore another backup "+
			"(or copy this one again from where it is kept)", backup, err)
	}
	err = backupMark(backup)
	if errors.Is(err, ErrNewerSchema) {
		return "", fmt.Errorf("restore: %w. The database is unchanged: restore it with that release (or a newer one), or restore a backup taken by this release", err)
	}
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if o.Server != "" {
		if err := CheckBackupOrigin(backup, o.Server); err != nil {
			return "", fmt.Errorf("restore: %w", err)
		}
	}
	if o.BackupSchema != nil {
		if v, err := SchemaOf(backup); err == nil && v != 0 {
			o.BackupSchema(v)
		}
	}
	// The owner of the file replaced (or of the data directory), for the
	// copy and its spool files (ownership.go): run as root, they would be
	// root's, and the daemon could not open them. Read before the lock
	// below creates the file when there is none.
	owner := databaseOwnerIn(held, path)
	if o.Owner != nil {
		owner.uid, owner.gid = o.Owner.UID, o.Owner.GID
	}
	// The database as the directory held names it (a path through its
	// descriptor): its lock, the empty file the lock makes where there
	// is none, and the count are of that directory's, never of one a
	// link swapped in at the data directory's name leads to (rt30c F3).
	inHeld := heldPath(held, path)
	_, serr := os.Stat(inHeld)
	hadFile := serr == nil
	// The lock bbolt takes, taken on the file itself: none of the
	// database's pages is read, so a damaged database (the case a
	// restore is for) is replaced as a sound one is. Held until the
	// new file has the name: nothing opens the old one meanwhile. With
	// no database at path the lock creates an empty file and holds it
	// (rr24 F2): a start treats an empty file as no database, and one
	// started meanwhile waits for the lock instead of making a database
	// of its own there, whose Open would delete this restore's copy
	// (finishRestore) and whose mail the rename would drop.
	//
	// The caller's refusal of what the count finds (newer mail the backup
	// lacks) is kept until the backup's copy has been checked: a damaged
	// backup is refused as damaged first, so that an operator is not sent
	// to deliver that mail for a restore that could never be done
	// (lifert38-F3).
	var refusedByLost error
	var counted func([]NotInBackup, bool, *liveMessages)
	var live *liveMessages // what the replaced database holds, when it is read (restoregone.go)
	if o.Lost != nil || o.Gone != nil {
		counted = func(l []NotInBackup, known bool, ids *liveMessages) {
			live = ids
			if o.Lost != nil {
				refusedByLost = o.Lost(l, known)
			}
		}
	}
	unlock, err := lockCounted(backup, inHeld, counted, step)
	if ie := (*InUseError)(nil); errors.As(err, &ie) {
		ie.Path = path // as the operator knows it
	} else if err != nil {
		err = &heldNamed{heldText(held, path, err.Error()), err}
	}
	if errors.Is(err, ErrInUse) {
		return "", fmt.Errorf("restore: transport database %w (stop umbra first)", err)
	}
	if err != nil {
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	defer unlock()
	step("held")
	// Whether there is a database to keep as path.replaced-TIME: read
	// under the lock; an empty file (this lock's, or a killed restore's)
	// is none.
	exists, killedsEmpty := false, false
	if st, err := statIn(held, path); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > 0 {
		exists = true
	} else if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && hadFile {
		// The empty file a restore killed while it held it made, found
		// with its side lock (not older than it: emptydb.go): this
		// restore's as if it made it, removed when its copy does not
		// take the name. Kept, it was refused by the next start as a
		// truncated database once this restore removed the side lock
		// that told whose it was (rrlife39 F3).
		killedsEmpty = madeAfterTime(time.Unix(st.Mtim.Unix()), killedAt)
	}
	renamed := false
	if !hadFile || killedsEmpty {
		// Runs before unlock (deferred after it): the empty file this
		// restore made goes when its copy does not take the name.
		defer func() {
			if st, err := statIn(held, path); !renamed && err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 {
				removeIn(held, path)
			}
		}()
	}
	if !hadFile {
		// A restore killed now leaves it: the daemon's user must be able
		// to open it.
		if err := giveOwnerAt(held, filepath.Base(path), owner); err != nil {
			return "", fmt.Errorf("restore: %w. The database is unchanged", err)
		}
	}
	// A killed restore's second name of the live database (restorespool.go).
	if _, err := removeLiveLinksIn(held, path); err != nil {
		return "", fmt.Errorf("restore: removing what a killed restore left: %w. The database is unchanged", err)
	}
	// The copy and the staging spool are made, given their owner, locked
	// and removed (when refused) in the directory held, through its
	// descriptor (datadirfiles.go), never by their paths.
	if stopped() {
		return "", errStopped
	}
	tmp := path + ".restore"
	err = copyFileIn(backup, held, tmp)
	step("copied")
	if err == nil && stopped() {
		removeIn(held, tmp)
		return "", errStopped
	}
	if err != nil {
		removeIn(held, tmp)
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmp {
			// The copy could not be written (a full disk): the file
			// named is the one written, the copy beside the database,
			// and the database is said to be unchanged (rt41 F6).
			return "", fmt.Errorf("%w. The database is unchanged", GivenFileError("restore: writing the backup's copy", tmp, err))
		}
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	// The copy that takes the database's name is the one checked: every
	// page walked and every value checked, before anything is replaced.
	err = checkBackup(heldPath(held, tmp)) // read in the directory held, as it was written
	if errors.Is(err, ErrNoChecksums) && o.Unverified {
		err = nil
	}
	if errors.Is(err, ErrNoChecksums) {
		removeIn(held, tmp)
		return "", fmt.Errorf("restore: %w: %s was written by an umbra release that did not record them, so a changed "+
			"byte in it cannot be found; the database is unchanged. Take a new backup with this release, or restore "+
			"this one with --unverified (its pages are still read)", err, backup)
	}
	if _, serr := statIn(held, tmp); err != nil && errors.Is(serr, unix.ENOENT) {
		// The copy was there a moment ago (copyFileIn wrote it): another
		// process removed it, not a fault of the backup.
		return "", fmt.Errorf("restore: the copy %s was removed by another process while the backup was checked; "+
			"the database is unchanged: run the restore again", tmp)
	}
	if err != nil {
		removeIn(held, tmp)
		return "", fmt.Errorf("restore: the backup %s is damaged: %v. The database is unchanged: restore another backup "+
			"(or copy this one again from where it is kept)", backup, heldText(held, tmp, err.Error()))
	}
	if refusedByLost != nil {
		removeIn(held, tmp)
		return "", refusedByLost // the caller's own words
	}
	if stopped() {
		removeIn(held, tmp)
		return "", errStopped
	}
	spool := filepath.Join(filepath.Dir(path), spoolDirName)
	// The bodies over the spool threshold go into spool files again
	// (restorespool.go), after the checksums were checked and before the
	// copy takes the database's name.
	staging := spool + restoreSpoolSuffix
	if err := removeStagingIn(held, staging); err != nil { // a killed restore's
		removeIn(held, tmp)
		return "", fmt.Errorf("restore: removing %s left by an interrupted restore: %w", staging, err)
	}
	respooled, err := respoolInline(tmp, held, staging, o.SpoolThreshold, false)
	if err == nil {
		// This restore's own id, in its copy and in its staging spool
		// before the copy can take the database's name: a start installs
		// spool.restore only beside the database the same restore wrote,
		// never beside an earlier restore's database not started yet
		// (rt31c F1; finishRestore).
		err = markRestoreIn(held, tmp, staging, false)
	}
	var gone, heldBy []GoneSinceBackup
	var heldQueues []string
	if err == nil && live != nil && o.Gone != nil {
		// What the replaced database finished since the backup comes
		// back suspended, and what it holds suspended stays so
		// (restoregone.go).
		gone, heldBy, heldQueues, err = markGoneIn(held, tmp, live, false)
	}
	step("respooled")
	if err != nil {
		removeIn(held, tmp)
		removeStagingIn(held, staging)
		return "", fmt.Errorf("restore: moving the large bodies into spool files: %w. The database is unchanged", err)
	}
	// The copy is compacted whether or not bodies left it: a backup
	// carries the free pages of the messages that had left the
	// database it was taken of, and the restored queue.db must not
	// (a 78 MiB backup was restored as 82 MB, 16 MiB compacted).
	if err := compactCopy(held, tmp); err != nil {
		removeIn(held, tmp)
		removeStagingIn(held, staging)
		return "", fmt.Errorf("restore: compacting the copy: %w. The database is unchanged", err)
	}
	step("compacted")
	if stopped() {
		removeIn(held, tmp)
		removeStagingIn(held, staging)
		return "", errStopped
	}
	if err := giveOwnerAt(held, filepath.Base(tmp), owner); err != nil {
		removeIn(held, tmp)
		removeStagingIn(held, staging)
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	if _, serr := statIn(held, staging); serr == nil {
		if err := giveOwnerAt(held, filepath.Base(staging), owner); err != nil {
			removeIn(held, tmp)
			removeStagingIn(held, staging)
			return "", fmt.Errorf("restore: %w. The database is unchanged", err)
		}
	}
	// The copy is locked before it takes the database's name, and held
	// until the restore ends: the lock goes with the file, so the name
	// is locked at every moment — before the rename by the lock on the
	// database replaced (above), after it by this one. A daemon starting
	// meanwhile waits (its Open retries the lock), and a command says a
	// db command runs, not "not running" (LockHolder), while the spool
	// directories are moved under it; a restore killed anywhere leaves
	// the one database or the other at the name, and a start finishes
	// the rest (finishRestore).
	unlockNew, err := lockOwnCopyIn(held, tmp, time.Second)
	if err != nil {
		removeIn(held, tmp)
		removeStagingIn(held, staging)
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	defer unlockNew()
	step("locked")
	var suffix string
	// What this restore made, removed through the held directory when
	// it is refused from here on (a path could lead elsewhere now).
	undo := func() {
		unix.Unlinkat(heldFd, filepath.Base(tmp), 0)
		removeFlatAt(held, filepath.Base(staging))
		if kept != "" {
			unix.Unlinkat(heldFd, filepath.Base(kept), 0)
		}
		unix.Unlinkat(heldFd, filepath.Base(path)+asideSuffixName, 0)
	}
	if stopped() {
		undo()
		return "", errStopped
	}
	if err := stillAt(held, dataDir); err != nil {
		undo()
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	if exists {
		if kept, suffix, err = keepReplacedAt(held, path); err != nil {
			kept = ""
			undo()
			return "", fmt.Errorf("restore: keeping the replaced database: %w. The database is unchanged", err)
		}
		// The suffix, chosen once, is written where the start that
		// finishes a restore killed after its rename reads it
		// (asideSuffix): the spool directory it moves aside takes the
		// replaced database's suffix, not one of its own (rt28c F4).
		if err = writeAsideSuffixAt(held, path, suffix); err != nil {
			undo()
			return "", fmt.Errorf("restore: %w. The database is unchanged", err)
		}
		defer func() {
			if err == nil || !renamed {
				unix.Unlinkat(heldFd, filepath.Base(path)+asideSuffixName, 0) // done, or nothing replaced: nothing to finish
			}
		}()
	}
	step("kept")
	if stopped() {
		undo() // the kept name and the suffix too
		return "", errStopped
	}
	// --owner: the data directory is the daemon's user's before the
	// restored copy takes the name (given back if the rename fails).
	giveBack := func() {}
	var ddir *os.File
	if o.Owner != nil && o.GiveDataDir {
		// Looked at and given through the held descriptor, and given
		// back through it: never whatever the name holds by then.
		dir := filepath.Dir(path)
		was, ok := heldOwner(held)
		if !ok {
			undo()
			return "", fmt.Errorf("restore: %s cannot be looked at to give it to uid %d, gid %d. The database is unchanged", dir, o.Owner.UID, o.Owner.GID)
		}
		if err := held.Chown(o.Owner.UID, o.Owner.GID); err != nil {
			undo()
			return "", fmt.Errorf("restore: giving %s to uid %d, gid %d: %w. The database is unchanged", dir, o.Owner.UID, o.Owner.GID, err)
		}
		giveBack = func() { held.Chown(was.uid, was.gid) }
		// The data directory held (above): the spool is given (and
		// moved aside) relative to it, so a link the daemon's user puts
		// at the data directory's name after chownDir (it may own the
		// directory above: /var/lib/umbra) is never followed by root.
		ddir = held
	}
	// The commit point: the data directory still the one held, and the
	// copy renamed within it.
	err = stillAt(held, dataDir)
	if err == nil {
		err = unix.Renameat(heldFd, filepath.Base(tmp), heldFd, filepath.Base(path))
		if err != nil {
			err = &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
		}
	}
	if err != nil {
		giveBack()
		undo()
		return "", fmt.Errorf("restore: %w. The database is unchanged", err)
	}
	renamed = true
	if o.Gone != nil && len(gone) > 0 {
		o.Gone(gone) // restored suspended (restoregone.go)
	}
	if o.Holds != nil && (len(heldBy) > 0 || len(heldQueues) > 0) {
		o.Holds(heldBy, heldQueues) // the replaced database's holds, kept (restoregone.go)
	}
	defer func() {
		// Done in the directory held, which the path may no longer name.
		if o.DirReplaced != nil && stillAt(held, dataDir) != nil {
			o.DirReplaced(heldDirNow(held))
		}
	}()
	step("renamed")
	if o.Owner != nil && o.GiveDataDir {
		// The spool directory the restored database uses (the one put
		// in place, or the replaced one's left empty), given before
		// the lock on the name is let go (deferred before unlockNew).
		defer func() {
			if err == nil {
				err = giveTreeAt(ddir, spoolDirName, *o.Owner)
			}
		}()
	}
	if err := unix.Fsync(heldFd); err != nil {
		return kept, &fs.PathError{Op: "fsync", Path: dataDir, Err: err}
	}
	if len(respooled) > 0 {
		// The restored database names files in spool.restore: it
		// becomes spool, the replaced one moved aside. The restored
		// file's lock is held meanwhile (unlockNew), so a daemon started
		// now waits; a crash here is finished by the next Open
		// (finishRestore).
		if err := installRestoredSpoolAt(held, suffix); err != nil {
			return kept, fmt.Errorf("restore: the database is restored, but the spool directory %s holding its large "+
				"bodies was not put in place as %s (umbra does that at start): %w", staging, spool, err)
		}
		step("spool-installed")
		return kept, nil
	}
	// The replaced database's spooled bodies go beside it: the restored
	// one names no spool file (spoolbackup.go). After the rename, so
	// that the old database never lacks its spool files; a crash before
	// this leaves them to the restored database's first Open, which
	// moves them aside itself (setSpoolAside).
	if kept != "" {
		// By the held descriptor (above): not through a name swapped
		// since.
		if !dirHasEntriesAt(held, spoolDirName) {
			return kept, nil
		}
		if err := unix.Renameat(heldFd, spoolDirName, heldFd, spoolDirName+suffix); err != nil {
			return kept, fmt.Errorf("restore: the database is restored, but its replaced spool directory "+
				"was not moved aside (umbra does that at start): %w", err)
		}
		step("spool-moved")
		return kept, unix.Fsync(heldFd)
	}
	return kept, nil
}

// backupMark refuses a file that is not a backup made by SaveBackup and
// one of a newer schema (ErrNewerSchema), reading its meta bucket with
// bbolt's panics and page faults turned into errors.
func backupMark(backup string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the backup %s is damaged: %s", backup, damageText(backup, r)) // pagewalk.go
		}
	}()
	b, err := bolt.Open(backup, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return inUse(backup, err)
	}
	defer b.Close()
	return b.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || meta.Get(keyBackupOf) == nil {
			return fmt.Errorf("%s is not a backup made by umbra db backup", backup)
		}
		return backupSchema(backup, meta)
	})
}

// lockFile takes the exclusive lock bbolt takes on a database it opens
// for writing (flock), on the file at path, retrying for up to timeout;
// *InUseError, naming the holder, when another process holds it
// (openlock.go). It reads nothing of the file.
func lockFile(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := lockDB(path, true, timeout)
	if err != nil {
		return nil, err
	}
	return func() { closeLocked(f) }, nil
}

// keepReplacedAt links the database at path (in the data directory
// dir, held) to path.replaced-TIME, with -2, -3 … added when that name,
// or the spool directory's spool.replaced-TIME, is taken (restores
// within one second), through dir's descriptor. It returns the name and
// its suffix.
func keepReplacedAt(dir *os.File, path string) (string, string, error) {
	stamp := ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
	fd, base := int(dir.Fd()), filepath.Base(path)
	for i := 1; i <= 1000; i++ {
		suffix := stamp
		if i > 1 {
			suffix = fmt.Sprintf("%s-%d", stamp, i)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, spoolDirName+suffix, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			continue
		}
		err := unix.Linkat(fd, base, fd, base+suffix, 0)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", "", &os.LinkError{Op: "link", Old: path, New: path + suffix, Err: err}
		}
		return path + suffix, suffix, nil
	}
	return "", "", fmt.Errorf("%s%s and 999 more names are taken", path, stamp)
}

// checkBackup opens a backup read-only, walks it as Open and Compact do
// (openChecked's panic and fault guard) and checks its content against
// its checksums (VerifyBackup).
//
// Message records that do not decode although the checksums match
// (*RecordDamage: stored so before the backup was written) do not
// refuse it: the first start sets them aside and the rest of the queue
// is delivered, as for a live database (damaged.go); refusing would
// leave the operator no way to restore the rest.
func checkBackup(path string) error {
	err := VerifyBackup(path)
	if _, ok := err.(*RecordDamage); ok {
		return nil
	}
	return err
}

// backupSchema refuses (ErrNewerSchema) a backup whose schema version is
// newer than this release knows: restored, the database would not open
// (Store.init refuses it), after the one it replaced was put aside.
func backupSchema(path string, meta *bolt.Bucket) error {
	if v := meta.Get(keySchemaVersion); len(v) == 1 && v[0] > schemaVersion {
		return fmt.Errorf("%w: the backup %s is of schema version %d, written by a newer release of umbra; this one knows versions 1 to %d",
			ErrNewerSchema, path, v[0], schemaVersion)
	}
	return nil
}

// copyFileIn copies the file from to a new file made at to's last name
// in dir, the data directory held (createFreshIn), fsync'd.
func copyFileIn(from string, dir *os.File, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := createFreshIn(dir, to, os.O_WRONLY) // in the data directory held: no link followed (datadirfiles.go)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// UsedBytes is the part of the database file that holds data: its size
// less the free pages a drained backlog left (which only a compaction
// gives back to the filesystem). Back pressure watches it.
func (s *Store) UsedBytes() int64 {
	var size int64
	_ = s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	st := s.db.Stats()
	return size - int64(st.FreeAlloc)
}

// FreeBytes is the database file's free pages: space a drained backlog
// left in the file, which the next writes reuse before the file grows.
// Back pressure counts it as free disk space (disk_used_percent). Only
// the pages a write can take now count: not those freed while a read
// transaction older than their freeing is open (a db backup's copy, a
// listing), pending until it ends, which bbolt's FreeAlloc counts too —
// a drain during a backup made a full disk look free to the writes that
// would have grown the file (TestFreeBytesCountsNoPendingPages).
func (s *Store) FreeBytes() int64 {
	return int64(s.db.Stats().FreePageN) * int64(s.db.Info().PageSize)
}

// keyServer in the meta bucket is the name of the server (server.name)
// that last opened the database (SetServer); a backup's copy carries it,
// so that a restore knows which server the backup is of.
var keyServer = []byte("server")

// ErrOtherServer is returned by CheckBackupOrigin for a backup of
// another server's database.
var ErrOtherServer = errors.New("the backup is of another server's database")

// SetServer records name as the server whose database this is (meta
// server). serve calls it at start; backups taken afterwards carry it.
func (s *Store) SetServer(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if string(meta.Get(keyServer)) == name {
			return nil
		}
		return meta.Put(keyServer, []byte(name))
	})
}

// BackupOrigin reads which server (server.name, "" for a backup of a
// release that did not record it) and which database id a backup was
// taken of.
//
// A file that is not what its meta pages claim (truncated: a copy cut
// short) is named damaged before any page is read through bbolt's
// mapping (filecheck.go); a page fault or bbolt's panic on a bad page
// met while reading the meta bucket is an error too, never a crash.
func BackupOrigin(backup string) (server, dbID string, err error) {
	f, err := lockDB(backup, false, time.Second) // before its meta pages are read (openlock.go)
	if err != nil {
		return "", "", err
	}
	if err := checkBoltFile(backup); errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		closeLocked(f)
		return "", "", err
	} else if errors.Is(err, errNoDatabaseFile) {
		closeLocked(f)
		return "", "", fmt.Errorf("%s is not a backup made by umbra db backup: %w", backup, err)
	} else if err != nil {
		closeLocked(f)
		return "", "", fmt.Errorf("the backup %s is damaged: %w", backup, err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			server, dbID, err = "", "", fmt.Errorf("the backup %s is damaged: %s", backup, damageText(backup, r)) // pagewalk.go
		}
	}()
	b, err := bolt.Open(backup, 0o600, boltOptsOn(f, &bolt.Options{Timeout: time.Second, ReadOnly: true}))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return "", "", inUse(backup, err)
		}
		return "", "", fmt.Errorf("%s: %w", backup, err)
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta != nil && meta.Get(keyBackupOf) == nil && meta.Get(keyDBID) != nil {
			// A server's own database (stopped: its lock was free):
			// named as what it is, not only as what it is not.
			return &ServerDatabaseError{Path: backup, Server: string(meta.Get(keyServer)), DBID: string(meta.Get(keyDBID))}
		}
		if meta == nil || meta.Get(keyBackupOf) == nil {
			return fmt.Errorf("%s is not a backup made by umbra db backup", backup)
		}
		server = string(meta.Get(keyServer))
		id, _, _ := bytes.Cut(meta.Get(keyBackupOf), []byte{0})
		dbID = string(id)
		return nil
	})
	return server, dbID, err
}

// ServerDatabaseError is BackupOrigin's refusal of a server's own
// transport database (a queue.db whose lock is free: its server is
// stopped) given where a backup is expected: it carries no backup mark
// and no backup checksums (backupsums.go), which db verify checks and db
// restore requires. errors.Is(err, ErrServerDatabase) holds.
type ServerDatabaseError struct {
	Path, Server, DBID string
}

// ErrServerDatabase matches a *ServerDatabaseError.
var ErrServerDatabase = errors.New("a server's own transport database, not a backup")

func (e *ServerDatabaseError) Error() string {
	of := ""
	if e.Server != "" {
		of = " of " + e.Server
	}
	return fmt.Sprintf("%s is the transport database%s (database id %s), not a backup made by umbra db backup", e.Path, of, e.DBID)
}

func (e *ServerDatabaseError) Is(target error) bool { return target == ErrServerDatabase }

// CheckBackupOrigin refuses (ErrOtherServer) a backup taken of another
// server than server: restored here it would make this server deliver
// the other's queued mail while the other (or its shadow servers) also
// delivers it, and this server's own queue would be lost. A backup that
// records no server (an older release) is accepted.
func CheckBackupOrigin(backup, server string) error {
	from, id, err := BackupOrigin(backup)
	if err != nil {
		return err
	}
	if from != "" && from != server {
		return fmt.Errorf("%w: %s is a backup of %s (database id %s), and this is %s; restoring it would deliver %s's queued mail "+
			"from here as well (duplicates) and lose this server's queue. --force restores it anyway: do that only "+
			"to take over %s's queue with %s stopped for good, and expect duplicates: the shadow servers of its "+
			"messages resubmit those they hold, and mail %s delivered after the backup is delivered again", ErrOtherServer, backup, from, id, server, from, from, from, from)
	}
	return nil
}

// dirHasEntriesAt says whether the directory name in dir (not followed
// if a link) holds any entry.
func dirHasEntriesAt(dir *os.File, name string) bool {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name))
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}
