package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrDirReplaced is the refusal of a command's file whose directory,
// held (TempIn), its path no longer names: it was moved and a link or
// another directory put at its name while the command ran. Nothing was
// made through the new name.
var ErrDirReplaced = errors.New("the directory was replaced while the command ran (moved, and a link or another directory put at its name)")

// TempIn is the temporary copy of a file a command writes (db backup's
// partial copy, message export -o's copy), made in the directory of the
// file to be, which is opened once and held: the stale copies are
// removed, the copy made, linked to its name and removed, and the
// directory synced, through that descriptor, never by a path that may
// lead elsewhere by then (rt30c F3 in SaveBackup, rr-dbfix30 F2 in
// message export). The copy is locked from its creation until it is
// linked or removed (CreateTemp): a cleaner never removes one a live
// process writes.
type TempIn struct {
	*os.File // the copy; its name is the path under the directory as given

	dir    *os.File // held
	path   string   // the directory as given
	linked bool
	// synced: a duplicate of the copy's descriptor made at Link (-1:
	// none), SyncDir's way to the file system of a directory it may not
	// read — never the name again, which another writer may have
	// replaced by then (a FIFO would hang the open).
	synced int
	// Stale are the copies of killed commands (same prefix and suffix)
	// removed from the directory held, and the older release's kept.
	Stale StalePartials
}

// TempInOptions are what CreateTempIn makes and checks.
type TempInOptions struct {
	// The copy is named MarkedTemp(Prefix), a random suffix, Suffix;
	// the stale copies removed are those named Prefix...Suffix.
	Prefix, Suffix string
	// Place, when set, judges the directory held (its device and
	// inode, not a path) before anything is made in it: the spool or a
	// Maildir tree is refused there (rr-dbfix30 F3).
	Place func(dir *os.File) error
}

// CreateTempIn opens dir once and holds it, judges it (o.Place; a dir
// its path no longer names is ErrDirReplaced), removes the stale copies
// in it, and makes the new copy there. An error opening dir is returned
// as it is (the caller words it). Close removes the copy unless Link
// linked it, and lets the directory go.
func CreateTempIn(dir string, o TempInOptions) (*TempIn, error) {
	// O_PATH: write and search permission are what a file made,
	// linked and removed in dir needs, as by path; no read permission.
	held, err := os.OpenFile(dir, unix.O_PATH|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	t := &TempIn{dir: held, path: dir, synced: -1}
	if o.Place != nil {
		if err := o.Place(held); err != nil {
			held.Close()
			return nil, err
		}
	}
	if err := t.stillAt(); err != nil {
		held.Close()
		return nil, err
	}
	t.Stale = removeStaleTempsIn(held, o.Prefix, o.Suffix)
	f, err := createTempIn(held, MarkedTemp(o.Prefix), o.Suffix)
	if err != nil {
		held.Close()
		return nil, err
	}
	t.File = f
	return t, nil
}

// Dir is the directory held.
func (t *TempIn) Dir() *os.File { return t.dir }

// stillAt is ErrDirReplaced when the directory's path no longer names
// the directory held.
func (t *TempIn) stillAt() error {
	if stillAt(t.dir, t.path) != nil {
		return fmt.Errorf("%s: %w", t.path, ErrDirReplaced)
	}
	return nil
}

// Link links the copy, written and fsync'd, as name (a last name) in the
// directory held — never over an existing file (an error Is
// fs.ErrExist) — and removes its temporary name, the copy still locked.
// A directory its path no longer names refuses it first
// (ErrDirReplaced): the file is looked for by that path afterwards.
func (t *TempIn) Link(name string) error {
	if err := t.stillAt(); err != nil {
		return err
	}
	fd := int(t.dir.Fd())
	if err := unix.Linkat(fd, filepath.Base(t.Name()), fd, name, 0); err != nil {
		return &os.LinkError{Op: "link", Old: t.Name(), New: filepath.Join(t.path, name), Err: err}
	}
	unix.Unlinkat(fd, filepath.Base(t.Name()), 0)
	t.linked = true
	if fd, err := unix.Dup(int(t.File.Fd())); err == nil {
		t.synced = fd
	}
	return nil
}

// SyncDir makes the directory held durable (after Link: the new name).
// A directory this user may write but not read (a drop directory: held
// O_PATH, which cannot be fsync'd) is made durable by a sync of its
// file system, through the file linked there — never an error after the
// file is in place, which a second run would meet as "exists".
func (t *TempIn) SyncDir() error {
	fd, err := unix.Openat(int(t.dir.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		d := os.NewFile(uintptr(fd), t.path)
		defer d.Close()
		return d.Sync()
	}
	if t.synced >= 0 {
		serr := unix.Syncfs(t.synced)
		if serr == nil {
			return nil
		}
		err = serr
	}
	return &os.PathError{Op: "sync directory", Path: t.path, Err: err}
}

// Close removes the copy unless it was linked (its name first, then its
// lock), and closes it and the directory. The copy may be closed
// already (bbolt closes the file it was given).
func (t *TempIn) Close() {
	if !t.linked {
		unix.Unlinkat(int(t.dir.Fd()), filepath.Base(t.Name()), 0)
	}
	if t.synced >= 0 {
		unix.Close(t.synced)
		t.synced = -1
	}
	t.File.Close()
	t.dir.Close()
}

// HeldDepth tells whether the directory held is dir (0) or lies below
// it (the levels between), -1 when neither, judged by device and inode
// up the held directory's own parents ("..", through descriptors), not
// by a path that may lead elsewhere by now. A dir that does not exist
// holds nothing.
func HeldDepth(held *os.File, dir string) int {
	var want unix.Stat_t
	if unix.Stat(dir, &want) != nil {
		return -1
	}
	fd, err := unix.Dup(int(held.Fd()))
	if err != nil {
		return -1
	}
	for depth := 0; depth < 4096; depth++ { // bounded: a path has no more levels
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			break
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			unix.Close(fd)
			return depth
		}
		up, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		var ust unix.Stat_t
		if unix.Fstat(up, &ust) != nil || (ust.Dev == st.Dev && ust.Ino == st.Ino) {
			unix.Close(up) // the root: its parent is itself
			break
		}
		unix.Close(fd)
		fd = up
	}
	unix.Close(fd)
	return -1
}
