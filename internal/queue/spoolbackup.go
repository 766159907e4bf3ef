package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A backup carries spooled bodies inside it: Backup links the spool
// files its read transaction names into a directory beside the
// database (under the lock that removals take, so none of them goes
// before it is linked), then writes each body whole into the snapshot's
// body bucket and drops the snapshot's references and counts. The
// backup is a self-contained database file; Restore moves the bodies
// over the spool threshold into new spool files again (restorespool.go),
// and the spool files of the database it replaced are moved aside with
// it. Only one body is in memory at a time. A file that is missing or
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
	Problem string `json:"problem"` // missing, or shorter than the record says
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
	return fmt.Sprintf("%d message bodies are unreadable: %s%s. A backup without them would miss those bodies, so none was "+
		"written: remove those messages (umbra message remove ID) or take the backup with --skip-unreadable, which "+
		"records them without their body (restored, they are held as poison)", len(e.Bodies), strings.Join(parts, "; "), more)
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
	dir, err := os.MkdirTemp(filepath.Dir(s.db.Path()), "."+filepath.Base(s.db.Path())+".snapshot-spool-*")
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

// inline rewrites the snapshot file f: every spooled body whole in its
// body bucket, no reference, no count. It returns the new size, with f
// positioned at its start.
func (l *spoolLinks) inline(f *os.File) (int64, error) {
	path := f.Name()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return 0, err
	}
	for k, v := range l.refs {
		err := db.Update(func(tx *bolt.Tx) error {
			bodies := tx.Bucket(bucketBodies)
			if k[0] == refDumpster {
				bodies = tx.Bucket(bucketDumpBody)
			}
			key := []byte(k[1:])
			name, off, n, _ := decodeRef(v)
			head := bodies.Get(key)
			whole := make([]byte, len(head), int64(len(head))+n)
			copy(whole, head)
			sf, err := os.Open(filepath.Join(l.dir, name))
			if err != nil {
				return err
			}
			defer sf.Close()
			whole = whole[:len(head)+int(n)]
			if _, err := io.ReadFull(io.NewSectionReader(sf, off, n), whole[len(head):]); err != nil {
				what, _ := describeRef([]byte(k))
				return fmt.Errorf("spool file %s of %s: %w", name, what, err)
			}
			if err := bodies.Put(key, whole); err != nil {
				return err
			}
			return tx.Bucket(bucketSpooled).Delete([]byte(k))
		})
		if err != nil {
			db.Close()
			return 0, err
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
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
