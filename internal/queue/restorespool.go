package queue

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"umbra/internal/leftover"
)

// DefaultSpoolThreshold is config.DefaultSpoolThreshold (the queue does
// not import the configuration; cmd/umbra's tests check they agree):
// what a restore or compaction given no threshold uses.
const DefaultSpoolThreshold = 256 << 10

// Bodies stored in the database that belong in spool files. A backup
// carries every spooled body in pieces (bucket backupspool,
// spoolbackup.go; a backup of an earlier release carries it whole in
// the body bucket), and a database written before large messages were
// streamed holds them whole too; delivered from the database, each would
// be read whole into memory. respoolInline writes every backup's pieced
// body (whatever its size: it was spooled when the backup was taken)
// into a spool file again, a piece at a time, and moves every body
// stored whole over the spool threshold into one, before the database
// is put in place:
//
//   - Restore does it on its verified copy (the checksums are checked
//     first, on the bytes as they came from the backup), writing the
//     files into spool.restore beside the database. The restored file
//     takes the database's name with its backup mark still set; the
//     directory then becomes spool (the replaced one moved aside). A
//     restore killed before the rename leaves queue.db.restore and
//     spool.restore, which the next restore or Open removes; killed
//     after it, the restored database's first Open (its mark still set)
//     finishes the move before anything else.
//   - Compact (CompactSpooling) does it on its new copy, writing the
//     files into the live spool directory: a crash before the copy takes
//     the database's name leaves files no record counts, swept by Open.
//
// Each file is fsync'd and its directory entry too before the commit
// that names it (the crash argument of doc.go). Bodies whose part past
// the head is the same (a message and its dumpster copy) share one file,
// counted once per reference.

// restoreSpoolSuffix names the staging spool directory of a restore.
const restoreSpoolSuffix = leftover.StagingSuffix

type respoolEntry struct {
	bucket []byte
	kind   byte
	key    []byte
	head   int
	name   string
	n      int64
	// pieces: the body past its head is in bucket backupspool (a
	// backup's spooled body); the body bucket keeps the head as it is.
	pieces bool
}

// respoolHead is how much of a body stays in the database: its header
// section when it ends within the threshold (and the bound on what a
// decision on the header fields reads), else nothing.
func respoolHead(v []byte, threshold int64) int {
	lim := min(int64(len(v)), threshold, spoolMaxHeaderRead)
	if i := bytes.Index(v[:lim], []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return 0
}

// respoolInline moves every body of the database file at path that is
// stored whole and larger than threshold into a new spool file in
// spoolDir (made when the first is needed), replacing it by its head, a
// reference and the file's count, in one commit. It returns the names
// of the files it wrote. On an error the files it wrote are removed and
// the database is unchanged. The files are written and removed through
// one descriptor of spoolDir, opened without following it should it be
// a symlink (openDirAt), from parent, the data directory the command
// holds (nil: opened by its path): the directory belongs to the daemon's
// user, and a restore or compaction run as root writes nothing where a
// link swapped in names.
func respoolInline(path string, parent *os.File, spoolDir string, threshold int64, noSync bool) ([]string, error) {
	if threshold <= 0 {
		threshold = DefaultSpoolThreshold
	}
	db, err := openOwnBoltIn(parent, path, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: noSync})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var plan []respoolEntry
	var written []string
	var dir *os.File // spoolDir, opened when the first file is written
	defer func() {
		if dir != nil {
			dir.Close()
		}
	}()
	remove := func(name string) { unix.Unlinkat(int(dir.Fd()), name, 0) }
	fail := func(err error) ([]string, error) {
		for _, name := range written {
			remove(name)
		}
		return nil, err
	}
	// First the files, from a read transaction: a value read in a write
	// transaction may be unmapped when the file grows under it.
	hasPieces := false
	err = db.View(func(tx *bolt.Tx) error {
		spooled := tx.Bucket(bucketSpooled)
		same := map[[sha256.Size]byte]string{}
		newFile := func() (err error) {
			if dir == nil {
				dir, err = openDirAt(parent, spoolDir, true)
			}
			return err
		}
		// A backup's spooled bodies, piece by piece into their files.
		pieced := map[string]bool{}
		if pb := tx.Bucket(bucketBackupSpool); pb != nil {
			hasPieces = true
			c := pb.Cursor()
			k, _ := c.First()
			for k != nil {
				if len(k) < 6 || (k[0] != refMessage && k[0] != refDumpster) {
					return fmt.Errorf("%w: backupspool key %x", errCorrupt, k)
				}
				ref := bytes.Clone(k[:len(k)-4])
				e := respoolEntry{bucket: bucketBodies, kind: ref[0], key: ref[1:], pieces: true}
				if e.kind == refDumpster {
					e.bucket = bucketDumpBody
				}
				if b := tx.Bucket(e.bucket); b == nil || bodyValue(b, e.key) == nil {
					return fmt.Errorf("%s: its head is missing", describeValue(bucketBackupSpool, k))
				}
				if err := newFile(); err != nil {
					return err
				}
				f, name, err := createSpoolFile(dir)
				if err != nil {
					return err
				}
				h := sha256.New()
				var crc uint32 // the file's checksum (checksum.go)
				var i uint32
				for ; k != nil && len(k) == len(ref)+4 && bytes.HasPrefix(k, ref); k, _ = c.Next() {
					if binary.BigEndian.Uint32(k[len(ref):]) != i {
						err = fmt.Errorf("%s: piece %d is missing", describeValue(bucketBackupSpool, k), i)
						break
					}
					v := pieceOf(pb, k)
					h.Write(v)
					crc = crc32.Update(crc, castagnoli, v)
					if _, err = f.Write(v); err != nil {
						break
					}
					e.n += int64(len(v))
					i++
				}
				if err == nil {
					_, err = f.Write(binary.BigEndian.AppendUint32(nil, crc))
				}
				if err == nil && !noSync {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					remove(name)
					return fmt.Errorf("spool file for %s: %w", describeValue(e.bucket, e.key), err)
				}
				sum := [sha256.Size]byte(h.Sum(nil))
				if prev, ok := same[sum]; ok {
					remove(name)
					name = prev
				} else {
					written = append(written, name)
					same[sum] = name
				}
				e.name = name
				pieced[string(ref)] = true
				plan = append(plan, e)
			}
		}
		for _, bk := range []struct {
			name []byte
			kind byte
		}{{bucketBodies, refMessage}, {bucketDumpBody, refDumpster}} {
			b := tx.Bucket(bk.name)
			if b == nil {
				continue
			}
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				v = bodyAt(b, k, v) // either form (bodyalone.go)
				if v == nil || int64(len(v)) <= threshold {
					continue
				}
				if pieced[string(refKey(bk.kind, k))] {
					continue // a head; its body is in pieces
				}
				if spooled != nil && spooled.Get(refKey(bk.kind, k)) != nil {
					continue // already a head and a reference
				}
				h := respoolHead(v, threshold)
				part := v[h:]
				sum := sha256.Sum256(part)
				name, ok := same[sum]
				if !ok {
					if err := newFile(); err != nil {
						return err
					}
					if name, err = writeSpoolFile(dir, part, noSync); err != nil {
						return fmt.Errorf("spool file for %s: %w", describeValue(bk.name, k), err)
					}
					written = append(written, name)
					same[sum] = name
				}
				plan = append(plan, respoolEntry{bucket: bk.name, kind: bk.kind, key: bytes.Clone(k), head: h,
					name: name, n: int64(len(part))})
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if len(plan) == 0 && !hasPieces {
		return nil, nil
	}
	if !noSync && len(written) > 0 {
		if err := dir.Sync(); err != nil {
			return fail(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		spooled, err := tx.CreateBucketIfNotExists(bucketSpooled)
		if err != nil {
			return err
		}
		counts, err := tx.CreateBucketIfNotExists(bucketSpoolFiles)
		if err != nil {
			return err
		}
		if hasPieces {
			if err := tx.DeleteBucket(bucketBackupSpool); err != nil {
				return err
			}
		}
		for _, e := range plan {
			b := tx.Bucket(e.bucket)
			v := bodyValue(b, e.key)
			if e.pieces {
				if v == nil {
					return fmt.Errorf("%s changed while it was moved to a spool file", describeValue(e.bucket, e.key))
				}
			} else if int64(len(v)) != int64(e.head)+e.n {
				return fmt.Errorf("%s changed while it was moved to a spool file", describeValue(e.bucket, e.key))
			}
			if !e.pieces {
				if err := putBodyValue(b, e.kind, e.key, bytes.Clone(v[:e.head])); err != nil {
					return err
				}
			}
			if err := spooled.Put(refKey(e.kind, e.key), encodeRef(e.name, 0, e.n)); err != nil {
				return err
			}
			var cnt int64
			if c := counts.Get([]byte(e.name)); len(c) == 8 {
				cnt = int64(binary.BigEndian.Uint64(c))
			}
			var nv [8]byte
			binary.BigEndian.PutUint64(nv[:], uint64(cnt+1))
			if err := counts.Put([]byte(e.name), nv[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return written, nil
}

// openDirAt opens the directory dir through a descriptor of its parent,
// never following dir itself should it be a symlink (O_NOFOLLOW): what
// a name swapped for a link points at is not written, given an owner or
// removed through it. Its parent is held, the data directory a db
// command walked under safepath.go's rule at its start (a directory
// swapped for a link since is not followed either); with held nil, the
// directories above are followed (the data directory, as configured).
// With create it is made first (mode 0700) when missing, and its parent
// synced.
func openDirAt(held *os.File, dir string, create bool) (*os.File, error) {
	var parent int
	if held != nil {
		parent = int(held.Fd()) // the data directory the command walked and holds (safepath.go)
	} else {
		fd, err := unix.Open(filepath.Dir(dir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: filepath.Dir(dir), Err: err}
		}
		defer unix.Close(fd)
		parent = fd
	}
	base := filepath.Base(dir)
	if create {
		if err := unix.Mkdirat(parent, base, 0o700); err == nil {
			if err := unix.Fsync(parent); err != nil {
				return nil, &fs.PathError{Op: "fsync", Path: filepath.Dir(dir), Err: err}
			}
		} else if !errors.Is(err, unix.EEXIST) {
			return nil, &fs.PathError{Op: "mkdir", Path: dir, Err: err}
		}
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil, fmt.Errorf("%s is not a directory (a symbolic link, or replaced by one): not followed", dir)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// createSpoolFile makes a new, empty file of the directory dir with the
// name of a spool file that carries its checksum: its writer appends
// the CRC-32C of its bytes (checksum.go) before it syncs it.
func createSpoolFile(dir *os.File) (*os.File, string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, "", err
	}
	name := summedSpoolPrefix + hex.EncodeToString(r[:]) // its checksum follows its bytes (checksum.go)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, "", &fs.PathError{Op: "open", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), name, nil
}

// writeSpoolFile writes p and its checksum into a new file of dir and
// fsyncs it; the caller syncs the directory.
func writeSpoolFile(dir *os.File, p []byte, noSync bool) (string, error) {
	f, name, err := createSpoolFile(dir)
	if err != nil {
		return "", err
	}
	_, err = f.Write(p)
	if err == nil {
		_, err = f.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(p, castagnoli))) // checksum.go
	}
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(int(dir.Fd()), name, 0)
		return "", err
	}
	return name, nil
}

// installRestoredSpool makes the staging directory of a restore the
// spool directory: a spool directory with files (the replaced
// database's bodies) is moved aside as spool+suffix (suffix "" makes a
// spool.replaced-TIME name), an empty one removed. Idempotent: a crash
// in the middle is finished by the next call (Open). It opens the data
// directory by its path (the daemon's Open, as the daemon's user); db
// restore calls installRestoredSpoolAt with the directory it holds.
func installRestoredSpool(spool, suffix string) error {
	d, err := os.Open(filepath.Dir(spool))
	if err != nil {
		return err
	}
	defer d.Close()
	return installRestoredSpoolAt(d, suffix)
}

// installRestoredSpoolAt is installRestoredSpool in the data directory
// dir, through its descriptor: no name on the data directory's path is
// looked up again.
func installRestoredSpoolAt(dir *os.File, suffix string) error {
	fd := int(dir.Fd())
	staging := spoolDirName + restoreSpoolSuffix
	var st unix.Stat_t
	if err := unix.Fstatat(fd, staging, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil // done already, or nothing was spooled
	}
	// Something else at the name (a link planted there) is moved aside
	// as a spool with files is, never followed or removed.
	var sst unix.Stat_t
	notDir := unix.Fstatat(fd, spoolDirName, &sst, unix.AT_SYMLINK_NOFOLLOW) == nil && sst.Mode&unix.S_IFMT != unix.S_IFDIR
	if notDir || dirHasEntriesAt(dir, spoolDirName) {
		aside := freeSpoolAside(takenAt(fd), suffix)
		if err := unix.Renameat(fd, spoolDirName, fd, aside); err != nil {
			return &os.LinkError{Op: "rename", Old: filepath.Join(dir.Name(), spoolDirName), New: filepath.Join(dir.Name(), aside), Err: err}
		}
		if restoreStep != nil {
			restoreStep("spool-aside")
		}
	} else if err := unix.Unlinkat(fd, spoolDirName, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "remove", Path: filepath.Join(dir.Name(), spoolDirName), Err: err}
	}
	if err := unix.Renameat(fd, staging, fd, spoolDirName); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(dir.Name(), staging), New: filepath.Join(dir.Name(), spoolDirName), Err: err}
	}
	if err := unix.Fsync(fd); err != nil {
		return err
	}
	// The restore's id marker (markRestoreIn) has done its work once the
	// directory is in place; one a crash leaves here is swept at start
	// like any file no record names.
	if sfd, err := unix.Openat(fd, spoolDirName, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		unix.Unlinkat(sfd, restoreIDMarker, 0)
		unix.Close(sfd)
	}
	return nil
}

// finishRestore runs in Open before the database is initialised: a
// database that still carries its backup mark was just restored, and
// the bodies its restore moved into spool files wait in spool.restore
// (installed now, before the mark goes). Without the mark, spool.restore
// and queue.db.restore are what a restore killed before it replaced the
// database left: removed, with queue.db.compact (a killed compaction's
// copy) and a queue.db.replaced-TIME that is the live database itself
// (removeLiveLinks). It returns what it removed, for the log, and
// whether it installed the restored spool directory.
func finishRestore(db *bolt.DB, path string) (removed []string, installed bool, err error) {
	spool := filepath.Join(filepath.Dir(path), spoolDirName)
	staging := spool + restoreSpoolSuffix
	marked := false
	_ = db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil && meta.Get(keyBackupOf) != nil {
			marked = true
		}
		return nil
	})
	if _, serr := os.Stat(staging); serr == nil {
		// The backup mark says only that the database in place was
		// restored and not started since — also by an earlier restore
		// that finished, with a second one killed before its rename
		// (rt31c F1): the staging spool is that second one's. It is
		// installed only when it names the restore that wrote the
		// database in place, and never over a spool directory that
		// database uses (ownStaging).
		if marked && ownStaging(db, spool, staging) {
			// Finished here, with the suffix the restore chose.
			return nil, true, installRestoredSpool(spool, readAsideSuffix(path))
		}
		if err := os.RemoveAll(staging); err != nil {
			return nil, false, err
		}
		removed = append(removed, staging)
	}
	// A compaction killed before its rename leaves path.compact (under
	// this Open's lock no compaction runs: it holds the database's lock
	// from before it creates the copy until after the rename).
	// The names are those of the one list (leftover.Beside) the
	// commands refuse as a file they write.
	var lefts []string
	for _, n := range leftover.Beside(path) {
		switch {
		case n.Kind == leftover.Compact || n.Kind == leftover.Restore:
		case n.Kind == leftover.AsideSuffix && !marked: // of a restore killed before its rename
		default:
			continue
		}
		lefts = append(lefts, filepath.Join(filepath.Dir(path), n.Base))
	}
	for _, left := range lefts {
		if _, serr := os.Stat(left); serr == nil {
			if err := os.Remove(left); err != nil {
				return removed, false, err
			}
			removed = append(removed, left)
		}
	}
	links, err := removeLiveLinks(path)
	return append(removed, links...), false, err
}

// restoreIDMarker is the file in a restore's staging spool directory
// that holds the restore's own id (markRestoreIn), the id its copy of the
// database carries in meta (keyRestoreID) until its first start.
const restoreIDMarker = ".restore-id"

// markRestoreIn gives a restore an id of its own and writes it, synced,
// into its copy of the database (copyPath's last name in dir, the data
// directory held) and, when the restore made one, into its staging
// spool directory (restoreIDMarker), before the copy can take the
// database's name. A start that finds a staging spool beside a database
// still carrying its backup mark installs it only when the two ids are
// the same (ownStaging): the leftovers of a restore killed before its
// rename are never taken for its own, whatever an earlier restore left.
// The marker goes to the spool directory with the staging one and is
// removed there once it is in place (a crash before: the first start's
// sweep removes it, no record names it). Beside the id the copy records
// whether the restore staged a spool directory (keyRestoreStaged): one
// that staged nothing never owns the spool directory in place, whatever
// names its records keep (restoreStaged).
func markRestoreIn(dir *os.File, copyPath, staging string, noSync bool) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	id := hex.EncodeToString(b[:])
	// The staging directory is made with the first body respooled
	// (respoolInline), before this: it exists when something was staged.
	staged := []byte("0")
	var sst unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), filepath.Base(staging), &sst, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		staged = []byte("1")
	} else if !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "stat", Path: staging, Err: err}
	}
	db, err := openOwnBoltIn(dir, copyPath, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: noSync})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyRestoreStaged, staged); err != nil {
			return err
		}
		return meta.Put(keyRestoreID, []byte(id))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	sfd, err := unix.Openat(int(dir.Fd()), filepath.Base(staging), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil // nothing spooled: no staging directory to install
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: staging, Err: err}
	}
	defer unix.Close(sfd)
	fd, err := unix.Openat(sfd, restoreIDMarker, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &fs.PathError{Op: "create", Path: filepath.Join(staging, restoreIDMarker), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(staging, restoreIDMarker))
	_, err = f.WriteString(id)
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !noSync {
		err = unix.Fsync(sfd)
	}
	return err
}

// restoreStaged reads what the restore that wrote the database db
// recorded (markRestoreIn): recorded is true for a database still marked
// as restored (not started since) that carries a restore id and the
// record beside it; staged whether that restore staged a spool
// directory. A restore that staged nothing never owns the spool
// directory in place: its files are the replaced database's, also when
// the restored records keep the name of one of them (a backup taken
// with SkipUnreadable keeps the reference of a body it could not read,
// whose damaged file may still be in spool/). A restore that staged
// one owns spool/ once that is put in place (finishRestore installs it
// first when it is still waiting). Without the record (a database never
// restored, or restored by a release before it) the spool files it
// names decide (ownsSpoolIn).
func restoreStaged(db *bolt.DB) (staged, recorded bool) {
	_ = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || meta.Get(keyBackupOf) == nil || len(meta.Get(keyRestoreID)) == 0 {
			return nil
		}
		switch string(meta.Get(keyRestoreStaged)) {
		case "1":
			staged, recorded = true, true
		case "0":
			recorded = true
		}
		return nil
	})
	return staged, recorded
}

// ownsSpoolIn reports whether the spool directory spool is the database
// db's own: by what its restore recorded when it has the record
// (restoreStaged), else by whether a spool file it names is there
// (namesSpoolFileIn).
func ownsSpoolIn(db *bolt.DB, spool string) bool {
	if staged, recorded := restoreStaged(db); recorded {
		return staged
	}
	return namesSpoolFileIn(db, spool)
}

// ownStaging reports whether the staging spool directory beside the
// database db (marked as restored, not started since) is the one the
// restore that wrote db made: the restore id in db's meta equals the one
// in the staging directory's marker — by the ids alone, since a backup
// taken with SkipUnreadable keeps the names of damaged bodies that may
// still be in the live spool directory. Without an id on either side (a
// restore of a release before the marker), it is the restore's when no
// spool file db names is in the live spool directory: a restore puts
// every body of its copy into its staging directory, so a database whose
// bodies are in spool/ is not waiting for one, and that spool is never
// moved aside.
func ownStaging(db *bolt.DB, spool, staging string) bool {
	var id []byte
	_ = db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			id = bytes.Clone(meta.Get(keyRestoreID))
		}
		return nil
	})
	var marker []byte
	if f, err := os.OpenFile(filepath.Join(staging, restoreIDMarker), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0); err == nil {
		marker, _ = io.ReadAll(io.LimitReader(f, 65))
		f.Close()
	}
	if len(id) > 0 {
		// The restore's own id in both: its staging spool, whatever
		// names the database's kept references (SkipUnreadable) find in
		// spool/.
		return bytes.Equal(id, marker)
	}
	return len(marker) == 0 && !namesSpoolFileIn(db, spool)
}

// finishKilledRestoreIn is finishRestore's install step for db restore,
// in the data directory it holds, under its side lock (so no daemon
// opens the database meanwhile) and before the database's own lock:
// when the database in place was written by a restore killed after its
// rename (its backup mark and its restore id, the same id in
// spool.restore: ownStaging), that restore's staging spool is put in
// place, the spool it replaced moved aside with the replaced database's
// suffix. Otherwise (no staging spool, or one of a restore that replaced
// nothing) it does nothing: the restore removes such a staging spool as
// a leftover. A database that cannot be read is left to the restore's
// own checks.
func finishKilledRestoreIn(held *os.File, path string) (err error) {
	var st unix.Stat_t
	staging := spoolDirName + restoreSpoolSuffix
	hasStaging := unix.Fstatat(int(held.Fd()), staging, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
	if st, err := statIn(held, path); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size == 0 {
		return nil
	}
	if !hasStaging {
		return finishKilledSpoolAsideIn(held, path)
	}
	own := false
	func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { _ = recover() }() // a damaged database: not this step's to judge
		db, err := bolt.Open(heldPath(held, path), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			return
		}
		defer db.Close()
		marked := false
		_ = db.View(func(tx *bolt.Tx) error {
			marked = tx.Bucket(bucketMeta) != nil && tx.Bucket(bucketMeta).Get(keyBackupOf) != nil
			return nil
		})
		own = marked && ownStaging(db, heldPath(held, spoolDirName), heldPath(held, staging))
	}()
	if !own {
		return nil
	}
	return installRestoredSpoolAt(held, readAsideSuffix(heldPath(held, path)))
}

// finishKilledSpoolAsideIn finishes, for db restore, the last step of a
// restore killed after its rename whose restored database names no spool
// file (nothing was staged): the replaced database's spool directory is
// moved aside with the suffix that restore gave the database it replaced
// (spool.replaced-TIME beside queue.db.replaced-TIME), as the start would
// (setSpoolAside). Without it, the restore now running would move that
// spool aside under its own suffix, beside the killed restore's database,
// which names none of its files. Only for a database marked as restored
// with a restore id of this release, a recorded suffix, and a spool
// directory with entries that is not that database's own (ownsSpoolIn:
// its restore staged nothing). A restore that staged something leaves
// no such case: it has a staging spool until spool-installed, and after
// it spool/ holds its bodies, with the suffix file possibly still there.
func finishKilledSpoolAsideIn(held *os.File, path string) (err error) {
	suffix := readAsideSuffix(heldPath(held, path))
	if suffix == "" || !dirHasEntriesAt(held, spoolDirName) {
		return nil
	}
	fd := int(held.Fd())
	pending := false
	func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { _ = recover() }() // a damaged database: not this step's to judge
		db, err := bolt.Open(heldPath(held, path), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			return
		}
		defer db.Close()
		_ = db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			pending = meta != nil && meta.Get(keyBackupOf) != nil && len(meta.Get(keyRestoreID)) > 0
			return nil
		})
		// By what the restore recorded (restoreStaged), not by the names
		// its records keep: a SkipUnreadable backup's reference of a
		// damaged body may name a file the replaced spool still holds.
		pending = pending && !ownsSpoolIn(db, heldPath(held, spoolDirName))
	}()
	if !pending {
		return nil
	}
	// A name taken (a clock stepped back, a directory an operator made)
	// gets a free one: left in place, the replaced spool would be taken
	// for the restored database's — a compaction writing into it records
	// it so — and its bodies swept at the start.
	aside := freeSpoolAside(takenAt(fd), suffix)
	if err := unix.Renameat(fd, spoolDirName, fd, aside); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(held.Name(), spoolDirName), New: filepath.Join(held.Name(), aside), Err: err}
	}
	return unix.Fsync(fd)
}

// freeSpoolAside is the name a replaced spool directory is moved aside
// to, in a data directory where taken tells the names in use: spool
// with suffix (the suffix of the database it belongs to,
// path.replaced-TIME), or spool.replaced-TIME when suffix is "" or
// taken, with -2, -3 … added while that is taken too. Never a name in
// use: a spool directory is never moved onto another.
func freeSpoolAside(taken func(name string) bool, suffix string) string {
	aside := spoolDirName + suffix
	if suffix != "" && !taken(aside) {
		return aside
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	aside = spoolDirName + ".replaced-" + stamp
	for i := 2; i <= 1000 && taken(aside); i++ {
		aside = fmt.Sprintf("%s.replaced-%s-%d", spoolDirName, stamp, i)
	}
	return aside
}

// takenAt tells whether a name is in use in the directory fd (anything
// there, a dangling link too).
func takenAt(fd int) func(string) bool {
	return func(name string) bool {
		var st unix.Stat_t
		return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	}
}

// asideSuffixName, beside the database, holds the suffix a restore
// gave the database it replaced (path.replaced-TIME), from before its
// rename until its end: a start that finishes a restore killed in
// between moves the replaced spool directory aside with the same
// suffix (spool.replaced-TIME), so the two read as one pair.
const asideSuffixName = ".restore-suffix"

// writeAsideSuffixAt writes suffix to path+asideSuffixName in the data
// directory held (dir: db restore's descriptor of it), synced (the
// directory is synced with the restore's rename, after it). The file is
// made afresh through dir — a symlink or second name the daemon's user
// put there is removed, never written through (db restore runs as
// root), and no name swapped for the directory is followed — and made
// readable, no secret, by the daemon of db restore --owner.
func writeAsideSuffixAt(dir *os.File, path, suffix string) error {
	name := filepath.Base(path) + asideSuffixName
	dfd := int(dir.Fd())
	unix.Unlinkat(dfd, name, 0)
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "create", Path: path + asideSuffixName, Err: err}
	}
	f := os.NewFile(uintptr(fd), path+asideSuffixName)
	err = f.Chmod(0o644) // whatever the umask took away
	if err == nil {
		_, err = f.WriteString(suffix)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(dfd, name, 0)
	}
	return err
}

// readAsideSuffix is the suffix a restore recorded (writeAsideSuffix),
// "" when none is (or it is not one keepReplaced makes).
func readAsideSuffix(path string) string {
	f, err := os.OpenFile(path+asideSuffixName, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(f, 65))
	f.Close()
	if err != nil || len(b) > 64 || !strings.HasPrefix(string(b), ".replaced-") || strings.ContainsAny(string(b), "/\x00\n") {
		return ""
	}
	return string(b)
}

// RestoreFinished says what this Open did to finish a restore killed
// after its rename (the replaced spool directory moved aside, the
// restored one put in place), for the log; nil when nothing.
func (s *Store) RestoreFinished() []string { return s.finished }

// removeLiveLinks removes the names path.replaced-* that are the
// database at path itself, not a database a restore replaced: a restore
// links the database it replaces to such a name and then renames the
// restored copy over path, so one killed between the two leaves a second
// name of the live database, which keeps changing — never a copy of the
// database before the restore. The database keeps its own name. It
// returns the names removed. The caller holds the database's lock.
func removeLiveLinks(path string) ([]string, error) {
	live, err := os.Stat(path)
	if err != nil {
		return nil, nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), base+".replaced-") || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(name)
		if err != nil || !os.SameFile(live, fi) {
			continue
		}
		if err := os.Remove(name); err != nil {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// removeLiveLinksIn is removeLiveLinks in dir, the data directory a db
// command holds: the database, the names beside it and their removal
// looked up through its descriptor (a data directory swapped for a link
// since it was held is not followed).
func removeLiveLinksIn(dir *os.File, path string) ([]string, error) {
	if dir == nil {
		return removeLiveLinks(path)
	}
	live, err := statIn(dir, path)
	if err != nil || live.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil
	}
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	d := os.NewFile(uintptr(fd), filepath.Dir(path))
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	base := filepath.Base(path)
	var removed []string
	for _, name := range names {
		if !strings.HasPrefix(name, base+".replaced-") {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil ||
			st.Mode&unix.S_IFMT != unix.S_IFREG || st.Dev != live.Dev || st.Ino != live.Ino {
			continue
		}
		if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
			return removed, &fs.PathError{Op: "remove", Path: filepath.Join(filepath.Dir(path), name), Err: err}
		}
		removed = append(removed, filepath.Join(filepath.Dir(path), name))
	}
	return removed, nil
}

// removeStagingIn removes a restore's staging spool directory (flat: the
// spool files it wrote) at path's last name in dir, through its
// descriptor; a file or link at that name is removed, not followed. A
// missing one is no error.
func removeStagingIn(dir *os.File, path string) error {
	err := removeFlatAt(dir, filepath.Base(path))
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		err = unix.Unlinkat(int(dir.Fd()), filepath.Base(path), 0)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// Leftovers names what an interrupted restore (killed before it replaced
// the database) had left beside it and this Open removed: for the log.
func (s *Store) Leftovers() []string { return s.leftovers }

// namesSpoolFiles reports whether a file in the spool directory is one
// this database's records name: the directory is its own (a restore put
// it there), not the replaced database's. A reference whose file is
// missing (a body a backup could not read) does not count.
func (s *Store) namesSpoolFiles() bool {
	return namesSpoolFileIn(s.db, s.spoolDir)
}

// namesSpoolFileIn reports whether a spool file the database db names
// is in the directory spool.
func namesSpoolFileIn(db *bolt.DB, spool string) bool {
	names := false
	_ = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSpoolFiles)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if _, err := os.Lstat(filepath.Join(spool, string(k))); err == nil {
				names = true
				return errStopWalk
			}
			return nil
		})
	})
	return names
}

var errStopWalk = errors.New("stop")

// compactCopy rewrites the database file at path without its free
// pages, through path-compact, fsync'd before it takes path's name: the
// pages the bodies moved to spool files held would otherwise stay in
// the restored file (bbolt gives none back). Both files are looked up
// in dir, the data directory the restore holds, through its descriptor
// (nil: by their paths). A leftover path-compact of a killed restore is
// removed by the next restore or Open.
func compactCopy(dir *os.File, path string) error {
	opts := &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
	tmp := path + "-compact"
	// path is the restore's own copy: not read through a symlink (or a
	// FIFO, which would block) swapped in at its name (datadirfiles.go).
	src, err := openOwnBoltIn(dir, path, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return inUse(path, err)
	}
	defer src.Close()
	dst, err := createFreshBoltIn(dir, tmp, opts) // what has the name removed, no link followed (datadirfiles.go)
	if err != nil {
		return err
	}
	err = bolt.Compact(dst, src, 64<<20)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && dir != nil {
		err = syncRenameAt(dir, tmp, path)
	} else if err == nil {
		err = syncRename(tmp, path)
	}
	if err != nil {
		removeIn(dir, tmp)
	}
	return err
}

// syncRenameAt is syncRename in the data directory dir, held: tmp and
// path are looked up in it by their last names only, through its
// descriptor (a data directory swapped for a link since it was walked is
// not followed). tmp is opened without following a link.
func syncRenameAt(dir *os.File, tmp, path string) error {
	fd, err := unix.Openat(int(dir.Fd()), filepath.Base(tmp), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: tmp, Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	if err == nil && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1) {
		err = fmt.Errorf("%s %w", tmp, errNotOwnCopy)
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := unix.Renameat(int(dir.Fd()), filepath.Base(tmp), int(dir.Fd()), filepath.Base(path)); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}

// syncRename fsyncs the file tmp and then gives it path's name: a
// compacted copy takes the database's place only once it is durable.
// tmp is opened as the command's own copy (openOwnCopy): a symlink or a
// FIFO swapped in at its name is neither followed nor waited on.
func syncRename(tmp, path string) error {
	f, err := openOwnCopy(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
