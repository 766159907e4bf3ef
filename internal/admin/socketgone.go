package admin

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrSocketGone means the daemon runs but its admin socket cannot be
// reached: the file the socket was made as was removed (by hand, by a
// cleanup of /run) or replaced, while the daemon still listens on the
// socket it made, which no command can reach by that name any more.
// Waiting does not help and starting umbra again is refused (the
// daemon holds the database): SIGHUP makes the socket again
// (Server.Remake), and so does a restart.
var ErrSocketGone = errors.New("umbra runs, but its admin socket is gone")

// socketGoneErr is ErrSocketGone when a process listens on a Unix
// socket made as path, which did not answer there (the caller's dial
// failed): its file was removed or replaced. pid is the process that
// holds the transport database (0: not known), cmdline its command
// line. nil when no process listens on a socket of that name (umbra
// starting, or not running), or when this system does not say
// (/proc/net/unix).
func (c *Client) socketGoneErr(pid int, cmdline string) error {
	ino, ok := unixListener(c.path)
	if !ok {
		return nil
	}
	// The holder of the database listens on it, or the process that
	// does is found among those whose descriptors this user may read.
	owner := socketOwnerPid(ino, pid)
	if owner == 0 {
		held := ""
		if pid != 0 && c.database != "" {
			held = fmt.Sprintf("; pid %d holds its transport database %s", pid, c.database)
		}
		return fmt.Errorf("%w: a process listens on a socket made as %s, whose file was removed or replaced since, so no command "+
			"reaches it there (%s)%s. %sSIGHUP to the umbra daemon makes the socket again (kill -HUP PID; under systemd, systemctl reload "+
			"of its unit); a restart does too", ErrSocketGone, c.path, fileNow(c.path), held, removeFirst(c.path))
	}
	if owner != pid {
		pid, cmdline = owner, cmdlineOf(owner)
	}
	what := fmt.Sprintf("pid %d", pid)
	if cmdline != "" {
		what += " (" + cmdline + ")"
	}
	held := ""
	if c.database != "" {
		held = " holds its transport database " + c.database + " and"
	}
	return fmt.Errorf("%w: %s%s listens on the admin socket it made as %s, whose file was removed or replaced since, so no command "+
		"reaches it there (%s). %sSIGHUP makes the socket again: kill -HUP %d (under systemd, systemctl reload of its unit); a restart does too",
		ErrSocketGone, what, held, c.path, fileNow(c.path), removeFirst(c.path), pid)
}

// removeFirst is what must be done before SIGHUP can make the socket
// again at path: a file there that is not a socket is left alone by it
// (Server.Remake), so it is to be removed first.
func removeFirst(path string) string {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return "Remove that file (SIGHUP leaves a file that is not a socket alone), then "
	}
	return ""
}

// fileNow says what is at path now: nothing, or a file of what kind.
func fileNow(path string) string {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no file is there now"
	case err != nil:
		return fmt.Sprintf("it cannot be looked at: %v", err)
	case fi.Mode()&os.ModeSocket != 0:
		return "another socket, on which nothing listens, is there now"
	case fi.Mode().IsRegular():
		return "a regular file is there now"
	}
	return "a " + fi.Mode().Type().String() + " file is there now"
}

// unixListener is the inode of a listening Unix socket bound to path
// (/proc/net/unix, which still names a socket whose file was removed);
// false when there is none, or the table cannot be read.
func unixListener(path string) (uint64, bool) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	path = filepath.Clean(path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	sc.Scan() // the header
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path (the inode
		// padded with spaces; the path the rest of the line)
		fs, rest := make([]string, 0, 8), sc.Text()
		for len(fs) < 7 {
			var f string
			f, rest, _ = strings.Cut(strings.TrimLeft(rest, " "), " ")
			fs = append(fs, f)
		}
		fs = append(fs, rest)
		if fs[7] == "" {
			continue
		}
		const acceptCon = 0x10000 // __SO_ACCEPTCON: listening
		flags, err := strconv.ParseUint(fs[3], 16, 32)
		if err != nil || flags&acceptCon == 0 {
			continue
		}
		if filepath.Clean(strings.TrimLeft(fs[7], " ")) != path {
			continue
		}
		ino, err := strconv.ParseUint(fs[6], 10, 64)
		if err == nil {
			return ino, true
		}
	}
	return 0, false
}

// socketOwnerPid is the process that has the socket of inode ino open:
// pid when its descriptors name it, else the first process found whose
// descriptors this user may read that does; 0 when none is found.
func socketOwnerPid(ino uint64, pid int) int {
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	has := func(p string) bool {
		fds, err := os.ReadDir("/proc/" + p + "/fd")
		if err != nil {
			return false
		}
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + p + "/fd/" + fd.Name()); err == nil && l == want {
				return true
			}
		}
		return false
	}
	if pid != 0 {
		if has(strconv.Itoa(pid)) {
			return pid
		}
		if _, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err != nil {
			return pid // its descriptors are not this user's to read: the holder, as likely as any
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, p := range procs {
		if n, err := strconv.Atoi(p.Name()); err == nil && n != pid && has(p.Name()) {
			return n
		}
	}
	return 0
}

// cmdlineOf is the command line of process pid, "" when unknown.
func cmdlineOf(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
