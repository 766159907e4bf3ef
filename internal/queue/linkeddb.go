package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A database reached through a symbolic link, and a data directory
// replaced while a db command ran (rt30c F3, F4).
//
// serve opens a queue.db that is a symlink to a database elsewhere as it
// opens the file itself. db compact and db restore do not work through
// such a link: each writes a new file and renames it over queue.db, in
// the data directory — the rename replaces the link, not the file it
// leads to. The database at the link's target then stayed there whole,
// unnamed (a compaction said nothing of it; a restore kept no
// queue.db.replaced-TIME, though its refusal had promised the messages
// left behind would stay in one), and an operator or configuration
// management that put the link back had the same mail delivered a second
// time. One rule, for both: a queue.db that is a symlink refuses the
// command at its first step, naming the link and its target and what to
// do, and nothing is read, written or renamed (linkedDatabase).
//
// A command holds the data directory it walked at its start and does
// everything in it through that descriptor. A data directory moved and a
// link put at its name after the command's rename leaves the command
// done in the directory held, which the configured path no longer
// names: the command says so, naming where that directory is now
// (heldDirNow), instead of naming the path, which leads to a database it
// did not change.

// linkedDatabase refuses (for command, "umbra db compact") a database
// at path that is a symbolic link, looked at in the data directory
// held, not followed: nil when it is none.
func linkedDatabase(held *os.File, path, command string) error {
	base := filepath.Base(path)
	var st unix.Stat_t
	if err := unix.Fstatat(int(held.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return nil
	}
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(int(held.Fd()), base, buf)
	if err != nil {
		return fmt.Errorf("transport database %s is a symbolic link (%v): %s works on the file itself. Nothing was changed", path, err, command)
	}
	target := string(buf[:n])
	shown := target
	if !filepath.IsAbs(target) {
		shown = filepath.Join(filepath.Dir(path), target)
	}
	if unix.Fstatat(int(held.Fd()), base, &st, 0) != nil {
		return fmt.Errorf("%s is a symlink to %s, which does not exist: umbra makes no database through a link; "+
			"remove the link, or make the file it names. Nothing was changed", path, shown)
	}
	what := "its new file would take the link's place in the data directory, and the database at " + shown +
		" would stay there, whole: its mail delivered again should the link be put back"
	if strings.HasSuffix(command, "restore") {
		what = "the restored file would take the link's place in the data directory, and the database at " + shown +
			" would be kept under no name the restore gives (no queue.db.replaced-TIME), with the messages it holds beyond the backup"
	}
	return fmt.Errorf("transport database %s is a symbolic link to %s: %s does not work through a link (%s). Nothing was "+
		"changed; umbra serve opens the database through the link as before. Put the database in place of the link "+
		"(mv %s %s), run the command again, and only then move it back and link it again if it must live there",
		path, shown, command, what, shown, path)
}

// heldDirNow is where the directory held is now (its path as the system
// tells it, /proc/self/fd), "" when that is not known.
func heldDirNow(held *os.File) string {
	now, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(held.Fd())))
	if err != nil || !filepath.IsAbs(now) {
		return ""
	}
	var a, b unix.Stat_t
	if unix.Stat(now, &a) != nil || unix.Fstat(int(held.Fd()), &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		return "" // moved again, or removed
	}
	return now
}
