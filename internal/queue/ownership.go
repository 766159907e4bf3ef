package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// The files db compact and db restore write into the data directory are
// the daemon's: the installed daemon runs as its own user, and the
// operator runs these commands as root (the data directory is not theirs
// to enter otherwise). A file they create is root's, which the daemon
// cannot open. So each file written takes the owner, group and mode of
// the file it replaces (the data directory's owner and group, mode 0600,
// for a new one) before it takes the database's name; a directory
// (spool) that of the directory it replaces, 0700 for a new one.

// fileOwner is who owns a file and its permission bits.
type fileOwner struct {
	uid, gid int
	perm     fs.FileMode
}

// ownerOf is the owner of the file at path; ok false when it cannot be
// read (no such file).
func ownerOf(path string) (fileOwner, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileOwner{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileOwner{}, false
	}
	return fileOwner{uid: int(st.Uid), gid: int(st.Gid), perm: fi.Mode().Perm()}, true
}

// databaseOwner is the owner a database file written at path is given:
// that of the file it replaces, else the data directory's owner with
// mode 0600.
func databaseOwner(path string) fileOwner {
	if o, ok := ownerOf(path); ok {
		return o
	}
	o, _ := ownerOf(filepath.Dir(path))
	o.perm = 0o600
	if o.uid == 0 && o.gid == 0 && os.Geteuid() != 0 {
		o.uid, o.gid = os.Geteuid(), os.Getegid()
	}
	return o
}

// giveOwner gives the file at path (a directory: it and everything in
// it) the owner o, and a file o's permission bits (a directory the
// owner's: 0700). Only what differs is changed, so that a command run
// by the files' own user changes nothing; a change it may not make (a
// user who is not root) is an error, before the file takes the place it
// is written for.
func giveOwner(path string, o fileOwner) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if int(st.Uid) != o.uid || int(st.Gid) != o.gid {
			if err := os.Lchown(p, o.uid, o.gid); err != nil {
				return fmt.Errorf("giving %s to the owner of the file it replaces (uid %d, gid %d), whom the daemon runs as: %w; "+
					"run the command as that user or as root", p, o.uid, o.gid, err)
			}
		}
		want := o.perm
		if d.IsDir() {
			want = 0o700
		}
		if (fi.Mode().IsRegular() || d.IsDir()) && want != 0 && fi.Mode().Perm() != want {
			if err := os.Chmod(p, want); err != nil {
				return err
			}
		}
		return nil
	})
}

// permissionError is the answer for a database file (or the spool
// directory beside it) this process may not open: nothing is damaged;
// the text names the file's owner and mode, this process's user, and
// the command that gives the file to it. nil when err is no permission
// error.
func permissionError(kind, path string, err error) error {
	if !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	me, group := userName(os.Geteuid()), groupName(os.Getegid())
	what := "the file"
	if o, ok := ownerOf(path); ok {
		fi, _ := os.Stat(path)
		what = fmt.Sprintf("%s is owned by %s:%s, mode %v", path, userName(o.uid), groupName(o.gid), fi.Mode())
	} else if o, ok := ownerOf(filepath.Dir(path)); ok {
		fi, _ := os.Stat(filepath.Dir(path))
		what = fmt.Sprintf("its directory %s is owned by %s:%s, mode %v", filepath.Dir(path), userName(o.uid), groupName(o.gid), fi.Mode())
	}
	dir := filepath.Dir(path)
	return fmt.Errorf("%s %s: permission denied to this process (user %s, group %s): %s. "+
		"Nothing is damaged: a file in the data directory belongs to another user (a command run as another user "+
		"wrote it, or a copy). Give the data directory back to the user umbra runs as and start again: "+
		"chown -R %s:%s %s (%v)", kind, path, me, group, what, me, group, dir, err)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}
