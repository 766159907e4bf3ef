package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
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
// --owner the data directory is made (mode 0750, as umbra serve makes
// it) or given to that user, and so is the database it replaces, whose
// owner the restored files then take.

// restoreDataDir makes dir ready for a restore, for owner ("" when not
// named).
func restoreDataDir(dir, owner string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("data directory %s is not a directory", dir)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data directory: %w", err)
	}
	exists := err == nil
	if owner == "" {
		if os.Geteuid() != 0 {
			return os.MkdirAll(dir, 0o750) // this user's, who runs umbra
		}
		if exists {
			return nil // made by umbra serve, or for it: the files take its owner
		}
		return fmt.Errorf("the data directory %s does not exist: made by this command run as root, it and the restored database "+
			"would be root's, which umbra, running as its own user (User= of its systemd unit), cannot open. Nothing was changed. "+
			"Name that user: umbra db restore --owner umbra FILE (--owner root for a daemon run as root), or make the directory "+
			"that user's first: install -d -o umbra -g umbra -m 0750 %s", dir, dir)
	}
	uid, gid, err := parseOwner(owner)
	if err != nil {
		return err
	}
	if !exists {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if err := os.Chmod(dir, 0o750); err != nil { // whatever the umask
			return err
		}
	}
	// The directory, and the database the restore replaces, whose owner
	// its files take, and the spool directory it replaces (both kept
	// aside, the daemon's too).
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("giving %s to %s (uid %d, gid %d): %w", dir, owner, uid, gid, err)
	}
	for _, p := range []string{filepath.Join(dir, "queue.db"), filepath.Join(dir, "spool")} {
		err := filepath.WalkDir(p, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("giving %s to %s (uid %d, gid %d): %w", p, owner, uid, gid, err)
		}
	}
	return nil
}

// parseOwner reads USER[:GROUP], each a name or a number; without a
// group, the user's own (its number again for a number no user has).
func parseOwner(s string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(s, ":")
	uid, gid = -1, -1
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		uid, gid = n, n
		if u, err := user.LookupId(name); err == nil {
			gid, _ = strconv.Atoi(u.Gid)
		}
	} else if u, err := user.Lookup(name); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	} else {
		return 0, 0, fmt.Errorf("--owner %s: no user %q on this machine", s, name)
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil && n >= 0 {
			gid = n
		} else if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			return 0, 0, fmt.Errorf("--owner %s: no group %q on this machine", s, group)
		}
	}
	return uid, gid, nil
}
