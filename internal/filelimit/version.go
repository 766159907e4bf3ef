package filelimit

import (
	"crypto/sha256"
	"io"
	"os"
	"syscall"
	"time"
)

// RacyWindow is how long after a file's last change a read of it cannot
// vouch for its stat: a second write within the file system's timestamp
// tick (a coarse clock, or a file system with whole seconds) keeps
// size, mtime and ctime all the same, so a Version read that soon is
// compared again by content at the next look.
const RacyWindow = 2 * time.Second

// Version is what a file a daemon reads again (credentials, hosts)
// was when it was read: the identity of the file its path resolved to
// (device, inode), its size, mtime and ctime, and a digest of the
// content read. Size and mtime alone miss a change: a copy that keeps
// the mtime (cp -p, rsync -t), a symlink swapped between two files of
// the same size and mtime (a Nix store, mtime 1), two writes in one
// tick. The zero Version is of no file: every file differs from it.
type Version struct {
	ok         bool
	dev, ino   uint64
	size       int64
	mtime      int64
	ctime      int64
	sum        [sha256.Size]byte
	racy       bool // read within RacyWindow of its change: its stat vouches for nothing
	changedAt  time.Time
	statFields bool // dev, ino and ctime known (a Stat_t)
}

// ReadVersion reads file (at most limit bytes, as ReadFile) and returns
// its content with its Version, both of the one file opened (its stat
// taken from the descriptor read, a symlink's target).
func ReadVersion(file string, limit int64, what string) ([]byte, Version, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, Version{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Version{}, err
	}
	b, err := io.ReadAll(Reader(f, limit, what))
	if err != nil {
		return nil, Version{}, err
	}
	v := statVersion(fi)
	v.sum = sha256.Sum256(b)
	v.racy = time.Since(v.changedAt) < RacyWindow
	return b, v, nil
}

func statVersion(fi os.FileInfo) Version {
	v := Version{ok: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), changedAt: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.statFields = true
		v.dev, v.ino = uint64(st.Dev), uint64(st.Ino)
		v.ctime = st.Ctim.Nano()
		if c := time.Unix(0, v.ctime); c.After(v.changedAt) {
			v.changedAt = c // a copy that put the mtime back changed it now
		}
	}
	return v
}

// Unchanged reports whether the file at path is, by its stat, still the
// one v was read of: same device and inode (of a symlink's target),
// size, mtime and ctime — and v was not read so soon after a change
// that a second one could keep them all (racy; then it must be read
// and its content compared, SameContent). False when v is the zero
// Version or the file cannot be stat'ed.
func (v Version) Unchanged(path string) bool {
	if !v.ok || v.racy {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	w := statVersion(fi)
	return w.statFields == v.statFields && w.dev == v.dev && w.ino == v.ino && w.size == v.size &&
		w.mtime == v.mtime && w.ctime == v.ctime
}

// SameContent reports whether v and w were read of the same content.
func (v Version) SameContent(w Version) bool { return v.ok && w.ok && v.sum == w.sum }

// Same reports whether v and w are the same file with the same content
// (identity, stat and digest).
func (v Version) Same(w Version) bool {
	return v.SameContent(w) && v.dev == w.dev && v.ino == w.ino && v.size == w.size && v.mtime == w.mtime && v.ctime == w.ctime
}

// ModTime is the file's mtime as read.
func (v Version) ModTime() time.Time { return time.Unix(0, v.mtime) }

// Stale is v marked to be read again at the next look (Unchanged false)
// while its content still compares (SameContent): a reload asks for
// the file as it is now, whatever its stat says.
func (v Version) Stale() Version {
	v.racy = true
	return v
}
