package admin

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
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
	inos := unixListeners(c.path)
	if len(inos) == 0 {
		return nil
	}
	// The caller's dial may have come just before the daemon made its
	// socket (umbra starting: a command said "gone" of a socket made a
	// moment later): a socket that answers at the path now is not gone.
	if conn, err := net.DialTimeout("unix", c.path, time.Second); err == nil {
		conn.Close()
		return nil
	}
	// The holder of the database listens on it, or the process that
	// does is found among those whose descriptors this user may read.
	owner := 0
	for _, ino := range inos {
		if o := socketOwnerPid(ino, pid); o != 0 && (owner == 0 || o == pid) {
			owner = o
		}
	}
	if owner == 0 {
		held := ""
		if pid != 0 && c.database != "" {
			held = fmt.Sprintf("; pid %d holds its transport database %s", pid, c.database)
		}
		return c.shown(fmt.Errorf("%w: a process listens on a socket made as %s, whose file was removed or replaced since, so no command "+
			"reaches it there (%s)%s. %sSIGHUP to the umbra daemon makes the socket again (kill -HUP PID; under systemd, systemctl reload "+
			"of its unit); a restart does too", ErrSocketGone, c.path, fileNow(c.path), held, removeFirst(c.path)))
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
	return c.shown(fmt.Errorf("%w: %s%s listens on the admin socket it made as %s, whose file was removed or replaced since, so no command "+
		"reaches it there (%s). %sSIGHUP makes the socket again: kill -HUP %d (under systemd, systemctl reload of its unit); a restart does too",
		ErrSocketGone, what, held, c.path, fileNow(c.path), removeFirst(c.path), pid), cmdline)
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
	}
	return config.FileKind(fi.Mode()) + " is there now" // not Mode().Type()'s dashes (rt24c F13)
}

// replacedErr is ErrSocketGone when the socket at the path is another
// process's while the daemon that holds the transport database still
// listens on the socket it made there (rt24c F6): what answered, or
// dropped the connection, is not umbra. Who answers at the path is
// asked of the kernel — the process that made the socket there listen,
// by SO_PEERCRED of a new connection (peerAt) — not inferred from
// /proc/net/unix, which still lists under the path the other process's
// socket after its file was removed and SIGHUP made the daemon's again
// (rr25 F1: the daemon's own live socket was then called "replaced",
// its removal advised), nor from /proc/DAEMONPID/fd, which only root
// and the daemon's user may read (rr25 F4: a member of the socket's
// group got "umbra stopped" of a running daemon). nil when the daemon
// answers there (busy, stopped with SIGSTOP, or dropping the
// connection: the caller says which), when nothing answers there, or
// when the daemon is not known.
func (c *Client) replacedErr() error {
	inos := unixListeners(c.path)
	if len(inos) < 2 {
		return nil // one listener at most: the path reaches it (or nothing)
	}
	peer, ok := peerAt(c.path)
	if !ok {
		return nil // nothing answers at the path now
	}
	pid, cmdline := c.daemonPid(inos, peer)
	if pid == 0 || peer == pid || !listensOn(pid, inos) {
		return nil
	}
	held := ""
	if c.database != "" {
		held = " holds its transport database " + c.database + " and"
	}
	what := fmt.Sprintf("pid %d", pid)
	if cmdline != "" {
		what += " (" + cmdline + ")"
	}
	by := "another process's socket" // peer 0: a process in a pid namespace this one does not see
	if peer != 0 {
		by = fmt.Sprintf("the socket of pid %d", peer)
		if cl := cmdlineOf(peer); cl != "" {
			by += " (" + cl + ")"
		}
	}
	return c.shown(fmt.Errorf("%w: %s%s listens on the admin socket it made as %s, whose file was "+
		"replaced since by %s, which answers there instead. Remove that file (SIGHUP leaves a socket another process listens on alone), "+
		"then SIGHUP makes the socket again: kill -HUP %d (under systemd, systemctl reload of its unit); a restart does too",
		ErrSocketGone, what, held, c.path, by, pid), cmdline, by)
}

// peerAt is the pid of the process that listens on the socket at path
// now: the one that made it listen, as the kernel gives it for a new
// connection (SO_PEERCRED) — a connection the daemon takes into its
// backlog while it is busy or stopped with SIGSTOP names it all the
// same. 0 with ok for a process in a pid namespace this one does not
// see; ok false when nothing answers there (no file, no listener, a
// file that is not a socket, a full backlog).
func peerAt(path string) (pid int, ok bool) {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return 0, false
	}
	defer conn.Close()
	_, pid, ok = peerCred(conn)
	return pid, ok
}

// daemonPid is the daemon behind the socket, its pid and command line:
// the holder of the transport database when it is known (LockHolder,
// which a member of the socket's group asks too), else (a --socket
// outside the data directory) the process answering at the path, peer,
// when it runs umbra serve, else the owner of another listener on a
// socket made there (inos) that does, among the processes whose
// descriptors this user may read. 0 when none is found.
func (c *Client) daemonPid(inos []uint64, peer int) (int, string) {
	if c.database != "" {
		if held, p, cl := queue.LockHolder(c.database); held && p != 0 {
			return p, cl
		}
	}
	if peer != 0 && serveSubcommand(peer) {
		return peer, cmdlineOf(peer)
	}
	for _, ino := range inos {
		if o := socketOwnerPid(ino, 0); o != 0 && serveSubcommand(o) {
			return o, cmdlineOf(o)
		}
	}
	return 0, ""
}

// daemonAnswers reports whether the process listening at the path is
// the daemon (daemonPid, peerAt): an answer there without umbra's error
// text is then a release of umbra older than this command's.
func (c *Client) daemonAnswers() (pid int, yes bool) {
	peer, ok := peerAt(c.path)
	if !ok || peer == 0 {
		return 0, false
	}
	pid, _ = c.daemonPid(nil, peer)
	return pid, pid == peer
}

// listensOn reports whether process pid listens on one of the sockets
// inos: by its descriptors where this user may read them, else (the
// daemon another user's, asked by a member of the socket's group: rr25
// F4) whether it runs umbra serve, which listens on its admin socket
// from its start to the end of its drain.
func listensOn(pid int, inos []uint64) bool {
	if _, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err != nil {
		return serveSubcommand(pid)
	}
	for _, ino := range inos {
		if holds(pid, ino) {
			return true
		}
	}
	return false
}

// holds reports whether process pid has the socket of inode ino open
// (its descriptors readable by this user, and naming it).
func holds(pid int, ino uint64) bool {
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && l == want {
			return true
		}
	}
	return false
}

// unixListener is the inode of a listening Unix socket bound to path
// (unixListeners' first); false when there is none.
func unixListener(path string) (uint64, bool) {
	inos := unixListeners(path)
	if len(inos) == 0 {
		return 0, false
	}
	return inos[0], true
}

// procNetUnix is the kernel's table of Unix sockets (a test's copy in
// its place).
var procNetUnix = "/proc/net/unix"

// unixListeners are the inodes of the listening Unix sockets bound to
// path (/proc/net/unix, which still names a socket whose file was
// removed): more than one when the file of one was removed or replaced
// and another bound since. A path given relative (--socket d1/a.sock)
// matches the absolute one the daemon bound (rt24c F2). None when the
// table cannot be read.
func unixListeners(path string) []uint64 {
	path = filepath.Clean(path)
	abs, _ := filepath.Abs(path)
	var inos []uint64
	for _, l := range unixListenerTable() {
		if p := filepath.Clean(l.path); p == path || p == abs {
			inos = append(inos, l.ino)
		}
	}
	return inos
}

// unixListen is one listening Unix socket with a path: its inode and
// path as /proc/net/unix writes them.
type unixListen struct {
	ino  uint64
	path string
}

// unixListenerTable is every listening Unix socket with a path, in the
// order of /proc/net/unix (procNetUnix), read once and whole: no cap,
// since the socket a caller looks for may be any of them. None when the
// table cannot be read.
func unixListenerTable() []unixListen {
	f, err := os.Open(procNetUnix)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []unixListen
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
		fs = append(fs, strings.TrimLeft(rest, " "))
		if fs[7] == "" {
			continue
		}
		const acceptCon = 0x10000 // __SO_ACCEPTCON: listening
		flags, err := strconv.ParseUint(fs[3], 16, 32)
		if err != nil || flags&acceptCon == 0 {
			continue
		}
		if ino, err := strconv.ParseUint(fs[6], 10, 64); err == nil {
			out = append(out, unixListen{ino: ino, path: fs[7]})
		}
	}
	return out
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

// Listening reports whether a process listens on a Unix socket made as
// path, its file there or not (/proc/net/unix): a daemon whose socket's
// file was removed or replaced still does. The CLI asks on such a path
// when the configuration file that names it does not load, so that it
// says the socket is gone (ErrSocketGone) rather than the file's error.
func Listening(path string) bool { return len(unixListeners(path)) > 0 }
