package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The data directory's path, walked by db restore as root (rr27 F1).
// A name on it that is a symbolic link may have been planted by another
// user who can write the directory it lies in (/tmp, a shared mount, a
// directory of the daemon's user): followed, root would make the data
// directory, and with --owner give it (or the existing directory the
// link names, /etc) to the daemon's user. The rule is the kernel's
// protected_symlinks one, made strict where the kernel cannot act: a
// link is followed when no user but root and the one running the
// command can have put it there — it lies in a directory of one of
// theirs that nobody else may write, or in a sticky directory of one of
// theirs (only a link's owner may replace it there) and the link is
// root's or this user's. A link in a directory another user owns or may
// write without the sticky bit is refused, naming both. The walk holds
// a descriptor of each directory it passed, so a name swapped after it
// was looked at is not followed either, and the directories missing are
// made from the descriptor of the one above (mkdirat), opened without
// following a link.

// maxPathLinks bounds the links one walk follows (the kernel's 40).
const maxPathLinks = 40

// LinkRefusedError is a symbolic link on a path db restore walks that
// another user may have planted.
type LinkRefusedError struct {
	Link, Why string
}

func (e *LinkRefusedError) Error() string {
	return fmt.Sprintf("%s is a symbolic link %s: it may have been planted there, and is not followed (nothing was "+
		"changed; replace it by the directory it names, or by a link of root's in a directory only root may write)", e.Link, e.Why)
}

// trustedUID: root, or the user running this process.
func trustedUID(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

// linkAllowed applies the rule to the link lst at name in the directory
// dirfd (dirPath).
func linkAllowed(dirfd int, dirPath, name string, lst *unix.Stat_t) error {
	var dst unix.Stat_t
	if err := unix.Fstat(dirfd, &dst); err != nil {
		return &fs.PathError{Op: "fstat", Path: dirPath, Err: err}
	}
	p := filepath.Join(dirPath, name)
	othersWrite := dst.Mode&0o002 != 0 || dst.Mode&0o020 != 0 && dst.Gid != 0
	sticky := dst.Mode&unix.S_ISVTX != 0
	switch {
	case !trustedUID(dst.Uid):
		return &LinkRefusedError{p, fmt.Sprintf("in %s, a directory of %s, who may have put it there", dirPath, UserName(int(dst.Uid)))}
	case othersWrite && !sticky:
		return &LinkRefusedError{p, fmt.Sprintf("in %s, which other users may write (mode %v)", dirPath, fs.FileMode(dst.Mode&0o7777))}
	case othersWrite && !trustedUID(lst.Uid):
		return &LinkRefusedError{p, fmt.Sprintf("of %s in %s, a directory other users may write", UserName(int(lst.Uid)), dirPath)}
	}
	return nil
}

// openDirChecked opens the directory at path, walking it name by name
// under the rule above; with mk set, a directory missing is made (mode
// mk(its path, whether it is the path's last), this user's) and its path appended to *made, step (a
// test's) called before each. The descriptor returned is opened for
// reading (fchown, fchmod): close it.
func openDirChecked(path string, mk func(p string, last bool) fs.FileMode, step func(p string), made *[]string) (*os.File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cur, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	defer func() {
		if cur >= 0 {
			unix.Close(cur)
		}
	}()
	curPath := "/"
	comps := strings.Split(abs, "/")
	links := 0
	for len(comps) > 0 {
		name := comps[0]
		comps = comps[1:]
		if name == "" || name == "." {
			continue
		}
		p := filepath.Join(curPath, name)
		var st unix.Stat_t
		err := unix.Fstatat(cur, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) && mk != nil && name != ".." && !slices.Contains(comps, "..") {
			if step != nil {
				step(p)
			}
			if err := unix.Mkdirat(cur, name, 0o700); errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("%s appeared while the restore was making it (made by another process, or a link planted "+
					"there): nothing is made through it. Nothing was changed; look at what %s is, and run the restore again", p, p)
			} else if err != nil {
				return nil, &fs.PathError{Op: "mkdir", Path: p, Err: err}
			}
			*made = append(*made, p)
			next, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("%s, just made, cannot be opened as a directory (replaced meanwhile?): %w", p, err)
			}
			unix.Close(cur)
			cur, curPath = next, p
			var nst unix.Stat_t
			if err := unix.Fstat(cur, &nst); err != nil || nst.Mode&unix.S_IFMT != unix.S_IFDIR || int(nst.Uid) != os.Geteuid() {
				return nil, fmt.Errorf("%s is no longer the directory this restore made (replaced meanwhile)", p)
			}
			last := !slices.ContainsFunc(comps, func(c string) bool { return c != "" && c != "." })
			if err := unix.Fchmod(cur, uint32(mk(p, last).Perm())); err != nil {
				return nil, &fs.PathError{Op: "chmod", Path: p, Err: err}
			}
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if links++; links > maxPathLinks {
				return nil, &fs.PathError{Op: "open", Path: p, Err: unix.ELOOP}
			}
			if err := linkAllowed(cur, curPath, name, &st); err != nil {
				return nil, err
			}
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(cur, name, buf)
			if err != nil {
				return nil, &fs.PathError{Op: "readlink", Path: p, Err: err}
			}
			var again unix.Stat_t
			if err := unix.Fstatat(cur, name, &again, unix.AT_SYMLINK_NOFOLLOW); err != nil || again.Ino != st.Ino ||
				again.Dev != st.Dev || again.Uid != st.Uid {
				return nil, fmt.Errorf("%s changed while it was read (replaced meanwhile): not followed", p)
			}
			target := string(buf[:n])
			if filepath.IsAbs(target) {
				root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
				}
				unix.Close(cur)
				cur, curPath = root, "/"
			}
			comps = append(strings.Split(target, "/"), comps...)
		case unix.S_IFDIR:
			next, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: p, Err: err}
			}
			unix.Close(cur)
			cur = next
			if name == ".." {
				curPath = filepath.Dir(curPath)
			} else {
				curPath = p
			}
		default:
			return nil, fmt.Errorf("%s is not a directory", p)
		}
	}
	f := os.NewFile(uintptr(cur), abs)
	cur = -1
	return f, nil
}

// CheckDataDirPath walks the data directory's path under the rule above
// (db restore): exists false, with no error, when a name on it is
// missing; a link refused is a *LinkRefusedError.
func CheckDataDirPath(dir string) (exists bool, err error) {
	f, err := openDirChecked(dir, nil, nil, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}

// MakeDataDir makes the directories missing on the data directory's
// path (dir mode 0750, those above it 0755: the user umbra runs as
// passes through them), under the rule above, from the descriptor of
// the directory above each. made lists what was made, the deepest last,
// also when it fails (RemoveMadeDir undoes them). step, set by a test,
// is called before each mkdir.
func MakeDataDir(dir string, step func(p string)) (made []string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f, err := openDirChecked(abs, func(_ string, last bool) fs.FileMode {
		if last {
			return 0o750
		}
		return 0o755
	}, step, &made)
	if err != nil {
		return made, err
	}
	f.Close()
	return made, nil
}

// RemoveMadeDir removes the empty directory p that MakeDataDir made,
// through a checked descriptor of the directory above it (a name
// swapped meanwhile is not followed).
func RemoveMadeDir(p string) error {
	parent, err := openDirChecked(filepath.Dir(p), nil, nil, nil)
	if err != nil {
		return err
	}
	defer parent.Close()
	return unix.Unlinkat(int(parent.Fd()), filepath.Base(p), unix.AT_REMOVEDIR)
}

// stillAt refuses, before a db command's commit point (the rename of its
// copy over the database), a data directory held (openDirChecked at the
// command's start) that its path no longer names: the directory was
// moved and a link or another directory put at its name meanwhile (the
// daemon's user may, in a directory of its own, while root runs the
// command). Everything the command does in it goes through the held
// descriptor, so nothing was done through the new name; refusing keeps
// the database the daemon will open (by the path) unchanged.
func stillAt(held *os.File, dir string) error {
	var hs, ps unix.Stat_t
	if err := unix.Fstat(int(held.Fd()), &hs); err != nil {
		return &fs.PathError{Op: "fstat", Path: dir, Err: err}
	}
	if err := unix.Stat(dir, &ps); err != nil || ps.Dev != hs.Dev || ps.Ino != hs.Ino {
		return fmt.Errorf("the data directory %s was replaced while the command ran (moved, and a link or another directory "+
			"put at its name): nothing was done through the new name", dir)
	}
	return nil
}

// removeFlatAt removes the directory name of dir and the files in it
// (a spool directory a db command made: files only), through dir's
// descriptor and the directory's own, never through a path.
func removeFlatAt(dir *os.File, name string) error {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	d := os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name))
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		unix.Unlinkat(fd, n, 0)
	}
	d.Close()
	return unix.Unlinkat(int(dir.Fd()), name, unix.AT_REMOVEDIR)
}
