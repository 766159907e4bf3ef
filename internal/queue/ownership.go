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

	"golang.org/x/sys/unix"
)

// The files db compact and db restore write into the data directory are
// the daemon's: the installed daemon runs as its own user, and the
// operator runs these commands as root (the data directory is not theirs
// to enter otherwise). A file they create is root's, which the daemon
// cannot open. So each file written takes the owner, group and mode of
// the file it replaces (the data directory's owner and group, mode 0600,
// for a new one) before it takes the database's name; a directory
// (spool) that of the directory it replaces, 0700 for a new one.

// Owner is a user and group, by number, files are given.
type Owner struct{ UID, GID int }

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
	return ownerOfInfo(fi)
}

// heldOwner is ownerOf for a file already open (a directory held by
// its descriptor).
func heldOwner(f *os.File) (fileOwner, bool) {
	fi, err := f.Stat()
	if err != nil {
		return fileOwner{}, false
	}
	return ownerOfInfo(fi)
}

// ownerOfInfo is the owner and mode fi says.
func ownerOfInfo(fi os.FileInfo) (fileOwner, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileOwner{}, false
	}
	return fileOwner{uid: int(st.Uid), gid: int(st.Gid), perm: fi.Mode().Perm()}, true
}

// OwnerText is "USER:GROUP, mode M" of the file at path, false when it
// cannot be looked at: the one wording of an owner in the permission
// refusals (permissionError, the admin socket's, the start's).
func OwnerText(path string) (string, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%s:%s, mode %v", UserName(int(st.Uid)), GroupName(int(st.Gid)), fi.Mode()), true
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

// databaseOwnerIn is databaseOwner of the database at path's last name
// in dir, the data directory held (its owner and the directory's looked
// at through the descriptor).
func databaseOwnerIn(dir *os.File, path string) fileOwner {
	if dir == nil {
		return databaseOwner(path)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), filepath.Base(path), &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		return fileOwner{uid: int(st.Uid), gid: int(st.Gid), perm: fs.FileMode(st.Mode).Perm()}
	}
	o, _ := heldOwner(dir)
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
	return walkOwned(path, func(f *os.File, st *unix.Stat_t) error {
		return giveOwnerFile(f, st, st.Mode&unix.S_IFMT == unix.S_IFDIR, o)
	})
}

// giveOwnerDir gives the directory at path, and none of the files in
// it, the owner o (giveOwner). The directory itself is not followed if
// it is a symlink (walkOwned).
func giveOwnerDir(path string, o fileOwner) error {
	pf, err := openDirChecked(filepath.Dir(path), nil, nil, nil)
	if err != nil {
		return err
	}
	defer pf.Close()
	fd, err := unix.Openat(int(pf.Fd()), filepath.Base(path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	return giveOwnerFile(f, &st, true, o)
}

// giveOwnerAt gives the entry name of the open directory dir the owner
// o (giveOwner), opened through dir's descriptor without following it
// (walkOwned): a name swapped for a symlink is not given; a missing one
// is an error.
func giveOwnerAt(dir *os.File, name string, o fileOwner) error {
	return walkOwnedAt(int(dir.Fd()), dir.Name(), name, func(f *os.File, st *unix.Stat_t) error {
		return giveOwnerFile(f, st, st.Mode&unix.S_IFMT == unix.S_IFDIR, o)
	}, 0)
}

// giveOwnerOpenDir gives the open directory dir itself, and none of the
// files in it, the owner o, by its descriptor.
func giveOwnerOpenDir(dir *os.File, o fileOwner) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: dir.Name(), Err: err}
	}
	return giveOwnerFile(dir, &st, true, o)
}

// giveOwnerFile gives the open file f (st its fstat) the owner o, by
// its descriptor: what the name points at now is not looked at again.
func giveOwnerFile(f *os.File, st *unix.Stat_t, dir bool, o fileOwner) error {
	if int(st.Uid) != o.uid || int(st.Gid) != o.gid {
		if err := f.Chown(o.uid, o.gid); err != nil {
			return fmt.Errorf("giving %s to the owner of the file it replaces (uid %d, gid %d), whom the daemon runs as: %w; "+
				"run the command as that user or as root", f.Name(), o.uid, o.gid, err)
		}
	}
	want := o.perm
	if dir {
		want = 0o700
	}
	if want != 0 && fs.FileMode(st.Mode&0o777) != want {
		if err := f.Chmod(want); err != nil {
			return err
		}
	}
	return nil
}

// PermissionError is a permission error of the data directory told to
// the operator: the facts (who may not open what, its owner and mode)
// and what fixes it, for serve or for the offline command that met it.
type PermissionError struct {
	msg string
	err error
}

func (e *PermissionError) Error() string { return e.msg }
func (e *PermissionError) Unwrap() error { return e.err }

// permissionError is the answer for a database file (or the spool
// directory beside it) this process may not open: nothing is damaged;
// the text names the file's owner and mode, this process's user, and
// what fixes it (permissionAdvice). command is "" for serve, else the
// offline command that met it ("umbra db compact"). nil when err is no
// permission error.
func permissionError(kind, path, command string, err error) error {
	if command == "" {
		return StartPermissionError(kind, path, err)
	}
	if !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	me, group := UserName(os.Geteuid()), GroupName(os.Getegid())
	what := "the file"
	if o, ok := OwnerText(path); ok {
		what = fmt.Sprintf("%s is owned by %s", path, o)
	} else if o, ok := OwnerText(filepath.Dir(path)); ok {
		what = fmt.Sprintf("its directory %s is owned by %s", filepath.Dir(path), o)
	}
	return &PermissionError{err: err, msg: fmt.Sprintf("%s %s: permission denied to this process (user %s, group %s): %s. %s (%v)",
		kind, path, me, group, what, permissionAdvice(filepath.Dir(path), command), err)}
}

// permissionAdvice is what fixes a permission error in the data
// directory dir. For serve (command ""): a file in it belongs to another
// user; give the directory back to the user umbra runs as, this process's
// (the README's chown -R umbra:umbra). For an offline command: nothing is
// changed; run it as the data directory's owner, the user umbra runs
// as, or as root (the files it writes keep their owner) — unless this
// process is that owner already, when a file in it belongs to another.
func permissionAdvice(dir, command string) string {
	me, group := UserName(os.Geteuid()), GroupName(os.Getegid())
	if command == "" {
		return "Nothing is damaged: a file in the data directory belongs to another user (a command run as another user " +
			"wrote it, or a copy). Give the data directory back to the user umbra runs as and start again: " +
			fmt.Sprintf("chown -R %s:%s %s", me, group, dir)
	}
	o, ok := ownerOf(dir)
	if !ok || o.uid == os.Geteuid() {
		owner := me
		if ok {
			owner = UserName(o.uid) + ":" + GroupName(o.gid)
		} else {
			owner += ":" + group
		}
		return fmt.Sprintf("Nothing is damaged or changed: a file in the data directory belongs to another user (a command "+
			"run as another user wrote it, or a copy). Give it back to the data directory's owner, the user umbra runs as: "+
			"chown -R %s %s; or run %s as root", owner, dir, command)
	}
	if o.uid == 0 {
		return fmt.Sprintf("Nothing is damaged or changed: %s works on the files of the data directory %s, which is root's: "+
			"run it as root (sudo %s …)", command, dir, command)
	}
	return fmt.Sprintf("Nothing is damaged or changed: %s works on the files of the user umbra runs as, the owner of the "+
		"data directory %s: run it as %s (sudo -u %s %s …) or as root (the files it writes keep their owner)",
		command, dir, UserName(o.uid), UserName(o.uid), command)
}

// CommandPermissionError is the answer of offline command (db compact,
// db restore) that may not read or write a file of the data directory
// dir: err with permissionAdvice; err itself when it says so already
// (a PermissionError); nil when err is no permission error.
func CommandPermissionError(command, dir string, err error) error {
	var pe *PermissionError
	switch {
	case !errors.Is(err, fs.ErrPermission):
		return nil
	case errors.As(err, &pe):
		return err
	}
	return &PermissionError{err: err, msg: fmt.Sprintf("%v (this process: user %s, group %s). %s",
		err, UserName(os.Geteuid()), GroupName(os.Getegid()), permissionAdvice(dir, command))}
}

// UserName is the name of user uid, else its number: the one writer of
// an account in umbra's messages about file ownership (the queue's, the
// admin socket's, db restore's).
func UserName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// GroupName is the name of group gid, else its number (UserName).
func GroupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// giveTree gives the directory at path and everything in it to o's
// user and group, modes unchanged (db restore --owner's spool
// directory); a missing path is nothing to give.
func giveTree(path string, o Owner) error {
	err := walkOwned(path, func(f *os.File, st *unix.Stat_t) error {
		if int(st.Uid) == o.UID && int(st.Gid) == o.GID {
			return nil
		}
		return f.Chown(o.UID, o.GID)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("giving %s to uid %d, gid %d: %w", path, o.UID, o.GID, err)
	}
	return nil
}

// walkOwned calls fn for path (a file, or a directory and everything in
// it) with an open descriptor of each entry and what fstat says of it,
// never following a symbolic link: a directory is opened relative to the
// descriptor of the one above it (openat, O_NOFOLLOW), so a directory of
// the tree that its user (who may write the spool) swaps for a symlink
// while the walk is inside it is refused, not followed out of the tree
// (a restore run as root gave /etc's files to the service user: rr25
// ops25 F1). A symlink, a file with more than one hard link (it may be
// another directory's file) and what is neither a regular file nor a
// directory are skipped. The last component of path itself is not
// followed either; the directories above it are walked under the rule
// of safepath.go (openDirChecked: the data directory as configured, but
// no link another user may have planted on its path — root's chown led
// through one into a directory elsewhere, rr27 opsfix F1). A missing
// path is fs.ErrNotExist.
func walkOwned(path string, fn func(f *os.File, st *unix.Stat_t) error) error {
	pf, err := openDirChecked(filepath.Dir(path), nil, nil, nil)
	if err != nil {
		return err
	}
	defer pf.Close()
	return walkOwnedAt(int(pf.Fd()), filepath.Dir(path), filepath.Base(path), fn, 0)
}

// giveTreeAt is giveTree of the entry name of the open directory dir
// (the data directory's descriptor a restore checked and holds): the
// path is not looked up again, so a name swapped for a link after the
// check is never followed.
func giveTreeAt(dir *os.File, name string, o Owner) error {
	err := walkOwnedAt(int(dir.Fd()), dir.Name(), name, func(f *os.File, st *unix.Stat_t) error {
		if int(st.Uid) == o.UID && int(st.Gid) == o.GID {
			return nil
		}
		return f.Chown(o.UID, o.GID)
	}, 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("giving %s to uid %d, gid %d: %w", filepath.Join(dir.Name(), name), o.UID, o.GID, err)
	}
	return nil
}

// maxOwnedDepth bounds walkOwned's recursion (the spool is two deep).
const maxOwnedDepth = 64

func walkOwnedAt(dirfd int, dir, name string, fn func(f *os.File, st *unix.Stat_t) error, depth int) error {
	p := filepath.Join(dir, name)
	var lst unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &lst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	mode := lst.Mode & unix.S_IFMT
	if mode != unix.S_IFREG && mode != unix.S_IFDIR {
		return nil // a symlink, a socket, a fifo: not given
	}
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	if mode == unix.S_IFDIR {
		flags |= unix.O_DIRECTORY
	}
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT) && depth > 0 {
		return nil // swapped for a symlink (or removed) since: not followed
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: p, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Nlink > 1 {
			return nil // another name of it may be outside the tree
		}
		return fn(f, &st)
	case unix.S_IFDIR:
	default:
		return nil
	}
	if err := fn(f, &st); err != nil {
		return err
	}
	if depth >= maxOwnedDepth {
		return fmt.Errorf("%s: directories nested more than %d deep", p, maxOwnedDepth)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return &fs.PathError{Op: "readdir", Path: p, Err: err}
	}
	for _, n := range names {
		if err := walkOwnedAt(fd, p, n, fn, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// chownDir gives the directory dir itself to uid, gid: a data directory
// that is a symlink (as configured) has the directory it names changed,
// not the link (os.Lchown changed the link and left the directory
// root's); by its descriptor, so that what the name points at is looked
// up once, walked under the rule of safepath.go: a link on the way that
// another user may have planted (the data directory's own name made a
// link to /etc) is refused, not followed (rr27 F1).
func chownDir(dir string, uid, gid int) error {
	f, err := openDirChecked(dir, nil, nil, nil)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chown(uid, gid)
}

// StartPermissionError is the start's refusal of a file or directory of
// its own it may not open or make (what names it and its setting:
// "transport database", "tracking log (tracking.path)"): the one wording
// of every such refusal, nil when err is none. It tells the cases apart,
// each with what fixes it (lifert43 F1: a file of this user's own at mode
// 0400 was blamed on another user, with a chown that changed nothing):
// a read-only filesystem (EROFS: remount it); the file owned by another
// user (chown); the file this user's but without the permission bits
// (chmod u+rw, its mode named); a directory on the way this user may not
// search or, where the file is made, write (its owner and mode, chmod or
// chown). Nothing is damaged in any of them.
func StartPermissionError(what, path string, err error) error {
	rofs := errors.Is(err, syscall.EROFS)
	if !rofs && !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	me, group := UserName(os.Geteuid()), GroupName(os.Getegid())
	head := fmt.Sprintf("%s %s: permission denied to this process (user %s, group %s)", what, path, me, group)
	var why string
	switch {
	case rofs:
		why = fmt.Sprintf("the filesystem holding %s is mounted read-only. Nothing is damaged: mount it read-write "+
			"(mount -o remount,rw on its mount point) and start again", path)
	default:
		why = permissionCase(path, me, group)
	}
	return &PermissionError{err: err, msg: fmt.Sprintf("%s: %s (%v)", head, why, err)}
}

// permissionCase says which of the permission cases of
// StartPermissionError refuses path, and its fix.
func permissionCase(path, me, group string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	// A directory on the way this user may not search.
	var chain []string
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		chain = append([]string{p}, chain...)
		if p == filepath.Dir(p) {
			break
		}
	}
	for _, d := range chain {
		fi, err := os.Stat(d)
		if err != nil {
			break
		}
		if !mayAccess(fi, 0o1) {
			return dirCase(d, fi, "search (x)", "u+x", me, group)
		}
	}
	fi, err := os.Stat(abs)
	if err == nil {
		want, bits, verb := fs.FileMode(0o6), "u+rw", "read and write it"
		if fi.IsDir() {
			want, bits, verb = 0o7, "u+rwx", "list, enter and write it"
		}
		o, _ := ownerOfInfo(fi)
		text, _ := OwnerText(abs)
		if o.uid != os.Geteuid() {
			return fmt.Sprintf("%s is owned by %s, another user. Nothing is damaged: a file in the data directory "+
				"belongs to another user (a command run as another user wrote it, or a copy). Give the data directory back "+
				"to the user umbra runs as and start again: chown -R %s:%s %s", abs, text, me, group, filepath.Dir(abs))
		}
		if !mayAccess(fi, want) {
			return fmt.Sprintf("%s is this user's own, but its mode %v does not let it %s. Nothing is damaged: "+
				"chmod %s %s and start again", abs, fi.Mode(), verb, bits, abs)
		}
	}
	// The file is to be made (or a file beside it, a lock): its
	// directory must let this user write in it.
	d := filepath.Dir(abs)
	if dfi, err := os.Stat(d); err == nil && !mayAccess(dfi, 0o3) {
		return dirCase(d, dfi, "write (w)", "u+rwx", me, group)
	}
	text := "its owner and mode could not be read"
	if t, ok := OwnerText(abs); ok {
		text = abs + " is owned by " + t
	} else if t, ok := OwnerText(d); ok {
		text = "its directory " + d + " is owned by " + t
	}
	return text + ". Nothing is damaged: give the file and its directory to the user umbra runs as " +
		fmt.Sprintf("(chown -R %s:%s %s) with read and write permission for it, and start again", me, group, d)
}

// dirCase is permissionCase's answer for a directory d that does not
// let this user through (need: "search (x)", "write (w)").
func dirCase(d string, fi os.FileInfo, need, bits, me, group string) string {
	o, _ := ownerOfInfo(fi)
	text, _ := OwnerText(d)
	if o.uid == os.Geteuid() {
		return fmt.Sprintf("the directory %s is this user's own, but its mode %v does not give it %s permission. "+
			"Nothing is damaged: chmod %s %s and start again", d, fi.Mode(), need, bits, d)
	}
	return fmt.Sprintf("the directory %s (owned by %s) does not give this user %s permission. Nothing is damaged: "+
		"give it to the user umbra runs as (chown %s:%s %s), or let it through (chmod o+x %s for a directory on the "+
		"way), and start again", d, text, need, me, group, d, d)
}

// mayAccess says whether this process's effective user and groups are
// given the permission bits want (r 4, w 2, x 1) on fi by its mode;
// root always is.
func mayAccess(fi os.FileInfo, want fs.FileMode) bool {
	if os.Geteuid() == 0 {
		return true
	}
	o, ok := ownerOfInfo(fi)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case o.uid == os.Geteuid():
		return (perm>>6)&want == want
	case inGroup(o.gid):
		return (perm>>3)&want == want
	}
	return perm&want == want
}

// inGroup says whether gid is this process's effective or a
// supplementary group.
func inGroup(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	gs, _ := os.Getgroups()
	for _, g := range gs {
		if g == gid {
			return true
		}
	}
	return false
}
