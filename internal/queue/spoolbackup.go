package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A backup carries spooled bodies inside it: Backup links the spool
// files its read transaction names into a directory beside the
// database (under the lock that removals take, so none of them goes
// before it is linked), then copies each body into the snapshot's bucket
// backupspool in pieces of backupChunk bytes (its head stays in the body
// bucket) and drops the snapshot's references and counts. The backup is
// a self-contained database file; Restore writes each of those bodies
// into a new spool file again, a piece at a time (restorespool.go), and
// the spool files of the database it replaced are moved aside with it.
// No step holds more of a spooled body in memory than one piece, so a
// backup of a queue of large messages takes as much memory as one of
// small ones (BenchmarkBackupSpooledBodies). A file that is missing or
// shorter than a reference says fails the backup naming every message
// and dumpster copy using it, or, with BackupOptions.SkipUnreadable,
// leaves their reference (and count) in the copy without the file.

type spoolLinks struct {
	dir  string
	refs map[string][]byte // spooled key → reference
	// kept counts, per file, the references to it a backup with
	// SkipUnreadable keeps as they are (their body unreadable).
	kept       map[string]int64
	unreadable []UnreadableBody
}

// BackupOptions change what Backup does with a body it cannot read.
type BackupOptions struct {
	// SkipUnreadable writes the backup even when spool files are
	// missing or shorter than their records say: the messages and
	// dumpster copies using them are in the backup without their body
	// (their reference to the file kept, the file not), and a database
	// restored from it holds them as poison (MissingSpool). Without it
	// such a body fails the backup (*UnreadableBodiesError).
	SkipUnreadable bool
	// Unreadable, when not nil, learns the bodies left out, before the
	// first byte is written.
	Unreadable func([]UnreadableBody)
}

// UnreadableBody is a message or dumpster copy whose spool file a
// backup could not read.
type UnreadableBody struct {
	What    string `json:"what"`    // "message ID" or "dumpster copy of message ID (database D, kept T)"
	ID      ID     `json:"id"`      // the message id
	File    string `json:"file"`    // the spool file's name
	Problem string `json:"problem"` // missing, shorter than the record says, or changed on disk (its checksum)
}

func (u UnreadableBody) String() string {
	return fmt.Sprintf("%s (spool file %s: %s)", u.What, u.File, u.Problem)
}

// UnreadableBodiesError is a backup refused because bodies it would
// carry are unreadable.
type UnreadableBodiesError struct{ Bodies []UnreadableBody }

func (e *UnreadableBodiesError) Error() string {
	const show = 20
	parts := make([]string, 0, min(len(e.Bodies), show))
	for i, u := range e.Bodies {
		if i == show {
			break
		}
		parts = append(parts, u.String())
	}
	more := ""
	if len(e.Bodies) > show {
		more = fmt.Sprintf(" and %d more", len(e.Bodies)-show)
	}
	count, them, those := fmt.Sprintf("%d message bodies are", len(e.Bodies)), "them", "those bodies"
	if len(e.Bodies) == 1 { // a count's sentence agrees with it (rt33c F8)
		count, them, those = "1 message body is", "it", "that body"
	}
	return fmt.Sprintf("%s unreadable: %s%s. A backup without %s would miss %s, so none was "+
		"written: remove those messages (umbra message remove ID) and dumpster copies (umbra dumpster remove ID) "+
		"or take the backup with --skip-unreadable, which records them without their body "+
		"(restored, a message is held as poison and a dumpster copy is skipped by redelivery)", count, strings.Join(parts, "; "), more, them, those)
}

// describeRef names the owner of a spooled key for an operator.
func describeRef(k []byte) (string, ID) {
	if len(k) == 9 && k[0] == refMessage {
		id := ID(binary.BigEndian.Uint64(k[1:]))
		return "message " + id.String(), id
	}
	if len(k) > 1 && k[0] == refDumpster {
		if dk, ok := parseDumpsterKey(k[1:]); ok {
			return fmt.Sprintf("dumpster copy of message %s (database %s, kept %s)", dk.ID, dk.Database,
				dk.KeptAt.UTC().Format(time.RFC3339)), dk.ID
		}
	}
	return fmt.Sprintf("spool reference %x", k), 0
}

// linkSpooled links every spool file tx names into a new directory. A
// file that is missing, or shorter than a record using it says, makes
// that record's body unreadable: every such record is named in the
// error, or, with skip, left out of the links (its reference kept).
func (s *Store) linkSpooled(tx *bolt.Tx, skip bool) (*spoolLinks, error) {
	b := tx.Bucket(bucketSpooled)
	if b == nil || b.Stats().KeyN == 0 {
		return &spoolLinks{}, nil
	}
	dir, err := os.MkdirTemp(filepath.Dir(s.db.Path()), snapshotName(s.db.Path())+"spool-*")
	if err != nil {
		return nil, err
	}
	l := &spoolLinks{dir: dir, refs: map[string][]byte{}, kept: map[string]int64{}}
	problems := map[string]string{} // file → why it is unreadable ("" for a sound one)
	err = b.ForEach(func(k, v []byte) error {
		name, off, n, ok := decodeRef(v)
		if !ok {
			return fmt.Errorf("%w: spool reference %x", errCorrupt, v)
		}
		link := filepath.Join(dir, name)
		if _, seen := problems[name]; !seen {
			problems[name] = ""
			if err := os.Link(filepath.Join(s.spoolDir, name), link); errors.Is(err, fs.ErrNotExist) {
				problems[name] = "missing"
			} else if err != nil {
				return fmt.Errorf("spool file %s: %w (a backup without it would miss a body)", name, err)
			}
		}
		problem := problems[name]
		if problem == "" {
			fi, err := os.Stat(link)
			if err != nil {
				return fmt.Errorf("spool file %s: %w", name, err)
			}
			if fi.Size() < off+n {
				problem = fmt.Sprintf("%d bytes, the record names %d from %d", fi.Size(), n, off)
			} else if spoolSummed(name) {
				// Its checksum, once per file (checksum.go): a changed
				// body is unreadable, as a cut one is.
				if err := SpooledBody(nil, link, off, n).verifySpool(); err != nil {
					problem = strings.TrimPrefix(err.Error(), ErrBodyUnreadable.Error()+": ")
				}
				problems[name] = problem
			}
		}
		if problem != "" {
			what, id := describeRef(k)
			l.unreadable = append(l.unreadable, UnreadableBody{What: what, ID: id, File: name, Problem: problem})
			l.kept[name]++
			return nil
		}
		l.refs[string(k)] = append([]byte(nil), v...)
		return nil
	})
	if err == nil && len(l.unreadable) > 0 && !skip {
		err = &UnreadableBodiesError{Bodies: l.unreadable}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return l, nil
}

func (l *spoolLinks) any() bool { return l != nil && len(l.refs) > 0 }

func (l *spoolLinks) remove() {
	if l != nil && l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

// backupChunk is the largest piece of a spooled body a backup holds in
// one value (bucket backupspool): a body is copied into the backup, and
// out of it on restore, a piece at a time, so neither holds more of it
// in memory than this, whatever its size.
const backupChunk = 1 << 20

// pieceValueKey is the key of the one value of a piece's bucket.
var pieceValueKey = []byte{0}

// pieceOf is the piece bucket backupspool holds at k, nil when k is not
// a piece's bucket.
func pieceOf(b *bolt.Bucket, k []byte) []byte {
	if pb := b.Bucket(k); pb != nil {
		return pb.Get(pieceValueKey)
	}
	return nil
}

// chunkKey is the key of piece i of the body a spooled key names.
func chunkKey(ref []byte, i uint32) []byte {
	k := make([]byte, len(ref)+4)
	copy(k, ref)
	binary.BigEndian.PutUint32(k[len(ref):], i)
	return k
}

// inline rewrites the snapshot file f: every readable spooled body in
// the backup's bucket backupspool in pieces of backupChunk bytes (its
// head stays in the body bucket), no reference, no count. One commit per
// piece, from one buffer: bbolt holds a value, and the pages it writes
// it to, until the commit, so more pieces per commit would be more
// memory. Each piece is the one value of a bucket of its own (bbolt
// rewrites every value of a leaf it adds one to, and keeps a leaf's
// values until the commit: pieces side by side in one leaf would be
// written again with every piece after them, and their old copies left
// in free pages). It returns the new size, with f positioned at its
// start.
func (l *spoolLinks) inline(f *os.File) (int64, error) {
	total, err := l.inlineInto(f.Name())
	if err != nil {
		return 0, err
	}
	_, err = f.Seek(0, io.SeekStart)
	return total, err
}

// inlineInto is inline's first step, on the snapshot file at path.
func (l *spoolLinks) inlineInto(path string) (int64, error) {
	db, err := openOwnBolt(path, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return 0, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketBackupSpool)
		return err
	}); err != nil {
		db.Close()
		return 0, err
	}
	buf := make([]byte, backupChunk)
	refs := make([]string, 0, len(l.refs))
	for k := range l.refs {
		refs = append(refs, k)
	}
	slices.Sort(refs)
	for _, k := range refs {
		if err := l.inlineOne(db, k, buf); err != nil {
			db.Close()
			what, _ := describeRef([]byte(k))
			return 0, fmt.Errorf("%s: %w", what, err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSpoolFiles); err != nil {
			return err
		}
		counts, err := tx.CreateBucket(bucketSpoolFiles)
		if err != nil {
			return err
		}
		// The references of unreadable bodies stay, counted: restored,
		// their files are missing (MissingSpool), never read short.
		for name, n := range l.kept {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], uint64(n))
			if err := counts.Put([]byte(name), v[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// inlineOne copies the body spooled key k names into the snapshot db in
// pieces, and drops its reference in the commit of the last piece.
func (l *spoolLinks) inlineOne(db *bolt.DB, k string, buf []byte) error {
	name, off, n, _ := decodeRef(l.refs[k])
	sf, err := os.Open(filepath.Join(l.dir, name))
	if err != nil {
		return fmt.Errorf("spool file %s: %w", name, err)
	}
	defer sf.Close()
	var check *spoolCheck // checksum.go: a changed body is not carried into a backup as sound
	if spoolSummed(name) {
		if check, err = startSpoolCheck(sf, name, off, n); err != nil {
			return err
		}
	}
	r := io.NewSectionReader(sf, off, n)
	var i uint32
	for done := int64(0); ; i++ {
		p := buf[:min(int64(len(buf)), n-done)]
		if _, err := io.ReadFull(r, p); err != nil {
			return fmt.Errorf("spool file %s: %w", name, err)
		}
		done += int64(len(p))
		last := done == n
		if check != nil {
			check.sum = crc32.Update(check.sum, castagnoli, p)
			if last {
				if err := check.finish(sf, name, off+n); err != nil {
					return err
				}
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			pb, err := tx.Bucket(bucketBackupSpool).CreateBucket(chunkKey([]byte(k), i))
			if err != nil {
				return err
			}
			if err := pb.Put(pieceValueKey, p); err != nil {
				return err
			}
			if !last {
				return nil
			}
			return tx.Bucket(bucketSpooled).Delete([]byte(k))
		})
		if err != nil || last {
			return err
		}
	}
}
