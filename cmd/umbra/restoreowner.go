package main

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"umbra/internal/queue"
)

// The data directory db restore writes into. The files it writes take
// the owner of the database they replace, else the data directory's
// (internal/queue ownership.go), so that umbra, running as its own user
// (deploy/umbra-hub.service: User=umbra), opens them. Run as root where
// the data directory does not exist (a machine rebuilt after its disk
// died), the directory it made and every file would be root's, and
// umbra could not start: the restore is refused before anything is made
// or replaced, naming the two fixes, unless --owner names the user umbra
// runs as (--owner root for a daemon run as root). An existing data
// directory is umbra serve's, or made for it: its owner is kept. With
// --owner the restored files are made for that user, and once the
// restore has succeeded — its last step — the data directory and the
// spool directory are given to it too (the data directory made, mode
// 0750, as umbra serve makes it, where it was missing; directories made
// above it stay root's, mode 0755, so that the user passes through).
//
// A refused restore changes nothing (rt17a F1): no owner changes before
// the restore is past every check and about to give the restored copy
// the database's name — the data directory is given to --owner's user
// then, before the rename (given back when the rename fails), and the
// spool directory before the restore lets go of the name's lock, so the
// daemon's user can open the database from its first moment there
// (queue.RestoreOptions.GiveDataDir) — (a restore refused because the
// daemon runs, or because the backup is damaged, would otherwise leave
// the running daemon's files to another user), and a data directory it
// made for the restore is removed again. A user who is not root cannot
// give files away: --owner naming another user is refused then, before
// anything is done (rt17a F3).

// restoreDir is the data directory prepared for a restore: what was
// made for it, and the owner the restore gives it.
type restoreDir struct {
	dir   string
	made  []string     // directories made for the restore, the deepest last
	owner *queue.Owner // --owner; nil when not named
	name  string       // --owner as given
}

// errOwnerNotRoot is a --owner naming another user or group, given by a
// user who is not root (exit 77).
type errOwnerNotRoot struct{ msg string }

func (e errOwnerNotRoot) Error() string { return e.msg }

// prepareRestoreDir checks dir and owner ("" when not named) for a
// restore and makes dir where it is missing; nothing else changes.
func prepareRestoreDir(dir, owner string) (*restoreDir, error) {
	// Walked name by name: a symlink on the path that another user may
	// have planted is refused, not followed (queue safepath.go, rr27 F1).
	exists, err := queue.CheckDataDirPath(dir)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	rd := &restoreDir{dir: dir, name: owner}
	if owner == "" {
		if os.Geteuid() != 0 {
			return rd, rd.mkdir() // this user's, who runs umbra
		}
		if exists {
			return rd, nil // made by umbra serve, or for it: the files take its owner
		}
		return nil, fmt.Errorf("the data directory %s does not exist: made by this command run as root, it and the restored database "+
			"would be root's, which umbra, running as its own user (User= of its systemd unit), cannot open. Nothing was changed. "+
			"Name that user: umbra db restore --owner umbra FILE (--owner root for a daemon run as root), or make the directory "+
			"that user's first: install -d -o umbra -g umbra -m 0750 %s", dir, dir)
	}
	uid, gid, err := parseOwner(owner)
	if err != nil {
		return nil, err
	}
	if err := ownerAllowed(owner, uid, gid); err != nil {
		return nil, err
	}
	rd.owner = &queue.Owner{UID: uid, GID: gid}
	if !exists {
		if err := rd.mkdir(); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// ownerAllowed refuses, for a user who is not root, an owner other than
// itself: only root may give a file to another user (chown(2)), and a
// group the user is not a member of.
func ownerAllowed(owner string, uid, gid int) error {
	if os.Geteuid() == 0 {
		return nil
	}
	me := queue.UserName(os.Geteuid())
	if uid != os.Geteuid() {
		fix := fmt.Sprintf("Run it as root: sudo umbra db restore --owner %s …", owner)
		if uid != 0 {
			// A restore run by a user who is not root makes the files
			// that user's: run by the user named, they are its own.
			fix = fmt.Sprintf("Run it as root (sudo umbra db restore --owner %s …), or as %s without --owner "+
				"(sudo -u %s umbra db restore …): a restore run by a user who is not root makes the files that user's",
				owner, queue.UserName(uid), queue.UserName(uid))
		}
		return errOwnerNotRoot{fmt.Sprintf("--owner %s: this command runs as %s, not root, and only root may give files to another user. "+
			"Nothing was changed. %s", owner, me, fix)}
	}
	if gid == os.Getegid() {
		return nil
	}
	if gs, err := os.Getgroups(); err == nil && slices.Contains(gs, gid) {
		return nil
	}
	return errOwnerNotRoot{fmt.Sprintf("--owner %s: this command runs as %s, not root, who is not a member of group %s and may not "+
		"give files to it. Nothing was changed. Run it as root, or name a group of %s", owner, me, queue.GroupName(gid), me)}
}

// checkRestoreOwner refuses an --owner this user may not give files to
// (errOwnerNotRoot, exit 77) before anything else is looked at — the
// backup too: a refusal for the owner is the same whatever the backup
// (rt17e-F6). "" (not named) passes.
func checkRestoreOwner(owner string) error {
	if owner == "" {
		return nil
	}
	uid, gid, err := parseOwner(owner)
	if err != nil {
		return err
	}
	return ownerAllowed(owner, uid, gid)
}

// mkdir makes the data directory and the directories above it that are
// missing, remembering them (undo removes them): the data directory mode
// 0750, the directories above it 0755, whatever the umask. Those stay
// the owner's who ran the restore (root), as install -d makes them: the
// user umbra runs as must pass through them (rt18c-F3: made 0750, root's,
// they kept it out of its own data directory), not own them.
//
// A directory above the data directory may lie in one another user can
// write (/tmp, a shared mount), who can plant a name there — before the
// restore (rr27 F1) or between the look and the mkdir (ops27 4). The
// path is walked name by name from a descriptor of each directory
// passed (queue.MakeDataDir): a symlink another user may have put there
// is refused, not followed (the kernel's protected_symlinks rule); each
// directory missing is made by this mkdir (mkdirat from the descriptor
// of the one above) or the restore is refused — a name that appeared
// meanwhile is never taken as made, and nothing is made under it — and
// its mode is set on the directory opened without following a link,
// checked to be a directory of this user's: no mode changes outside, as
// no file is written through a link in the data directory (queue
// datadirfiles.go).
func (rd *restoreDir) mkdir() error {
	made, err := queue.MakeDataDir(rd.dir, restoreMkdirStep)
	rd.made = append(rd.made, made...)
	if err != nil {
		rd.undo()
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// restoreMkdirStep, set by a test only, is called before each directory
// mkdir makes (a test plants a name there). nil in umbra.
var restoreMkdirStep func(p string)

// undo removes what prepareRestoreDir made, for a refused restore: the
// directories it made, each only when empty (a failed restore removes
// its own files first).
func (rd *restoreDir) undo() {
	for i := len(rd.made) - 1; i >= 0; i-- {
		queue.RemoveMadeDir(rd.made[i])
	}
	rd.made = nil
}

// parseOwner reads USER[:GROUP], each a name or a number; without a
// group, the user's own (its number again for a number no user has).
func parseOwner(s string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(s, ":")
	uid, gid = -1, -1
	// A number names a user (a group) only where this machine has one,
	// as a name does: a made-up id would give the files to no one
	// umbra runs as (README: exit 64 before the backup is read).
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		u, err := user.LookupId(name)
		if err != nil {
			return 0, 0, fmt.Errorf("--owner %s: no user %q on this machine", s, name)
		}
		uid = n
		gid, _ = strconv.Atoi(u.Gid)
	} else if u, err := user.Lookup(name); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	} else {
		return 0, 0, fmt.Errorf("--owner %s: no user %q on this machine", s, name)
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil && n >= 0 {
			if _, err := user.LookupGroupId(group); err != nil {
				return 0, 0, fmt.Errorf("--owner %s: no group %q on this machine", s, group)
			}
			gid = n
		} else if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			return 0, 0, fmt.Errorf("--owner %s: no group %q on this machine", s, group)
		}
	}
	return uid, gid, nil
}
