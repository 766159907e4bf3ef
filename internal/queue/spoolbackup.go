package queue

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A backup carries spooled bodies inside it: Backup links the spool
// files its read transaction names into a directory beside the
// database (under the lock that removals take, so none of them goes
// before it is linked), then writes each body whole into the snapshot's
// body bucket and drops the snapshot's references and counts. The
// backup is a self-contained database file; a restored one names no
// spool file, and the spool files of the database it replaced are
// orphans the next Open removes. Only one body is in memory at a time.

type spoolLinks struct {
	dir  string
	refs map[string][]byte // spooled key → reference
}

// linkSpooled links every spool file tx names into a new directory.
func (s *Store) linkSpooled(tx *bolt.Tx) (*spoolLinks, error) {
	b := tx.Bucket(bucketSpooled)
	if b == nil || b.Stats().KeyN == 0 {
		return &spoolLinks{}, nil
	}
	dir, err := os.MkdirTemp(filepath.Dir(s.db.Path()), "."+filepath.Base(s.db.Path())+".snapshot-spool-*")
	if err != nil {
		return nil, err
	}
	l := &spoolLinks{dir: dir, refs: map[string][]byte{}}
	err = b.ForEach(func(k, v []byte) error {
		name, _, _, ok := decodeRef(v)
		if !ok {
			return fmt.Errorf("%w: spool reference %x", errCorrupt, v)
		}
		l.refs[string(k)] = append([]byte(nil), v...)
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil
		}
		if err := os.Link(filepath.Join(s.spoolDir, name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("spool file %s: %w (a backup without it would miss a body)", name, err)
		}
		return nil
	})
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
				return fmt.Errorf("spool file %s: %w", name, err)
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
		_, err := tx.CreateBucket(bucketSpoolFiles)
		return err
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
