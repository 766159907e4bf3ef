package admin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"umbra/internal/queue"
)

// The start before the database (ops24 1). A daemon that holds its
// transport database but does not answer on its admin socket yet is
// starting (LockHolder, startingErr). Before it takes that lock it reads
// and checks its configuration — a large topology, the checks of its
// addresses and files: a second or more — and a command then found no
// lock and said "not running" of a daemon that was starting. So umbra
// serve, from its first moment, listens on a name of its own derived
// from its admin socket's path (ListenStarting: a Linux abstract socket,
// which touches no file — a refused configuration leaves nothing — and
// which the kernel takes away with the process, killed or not), until
// its database is locked; a command whose socket does not answer
// connects there and learns the starting daemon's pid from the kernel
// (SO_PEERCRED). Any local process may bind an abstract name (it carries
// no permission), so a process there is believed only if it is umbra
// serve of this installation (trustedMark, rr24 F1): root or the owner
// of the database, its data directory or the socket's directory; running
// the very executable the command runs; serve its subcommand. Its
// "stopping" only while a process holds the database.

// startingName is the abstract socket a daemon with the admin socket
// socket listens on while it starts: the hash of the socket's absolute
// path (an abstract name holds 107 bytes; a path may be longer).
func startingName(socket string) string {
	if abs, err := filepath.Abs(socket); err == nil {
		socket = abs
	}
	sum := sha256.Sum256([]byte(filepath.Clean(socket)))
	return "@umbra-starting-" + hex.EncodeToString(sum[:16])
}

// ListenStarting makes the process known as a daemon starting with the
// admin socket socket until the listener it returns is closed (when
// its transport database is locked; or its exit). A name taken already
// (another daemon starting with the same socket, which one of the two
// is refused at the database's lock) is an error the caller ignores.
func ListenStarting(socket string) (net.Listener, error) { return listenState(socket, "starting") }

// ListenStopping makes the process known as a daemon stopping with the
// admin socket socket, from the start of its drain until it exits:
// once its admin socket is closed it still holds its transport database
// for a moment, and a command would say "starting" of it (ErrStopping).
func ListenStopping(socket string) (net.Listener, error) { return listenState(socket, "stopping") }

// listenState listens on socket's abstract name, answering each
// connection with state and closing it.
func listenState(socket, state string) (net.Listener, error) {
	l, err := net.Listen("unix", startingName(socket))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed
			}
			answerState(c, state)
		}
	}()
	return l, nil
}

// answerState writes state to c and closes it. A panic of it (a defect)
// is recovered and said on stderr — the mark is up before the daemon's
// log and metrics exist — and the mark goes on answering: the process
// starting (or stopping) stays known as such to the next command.
func answerState(c net.Conn, state string) {
	defer c.Close()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "umbra: the %s mark's answer panicked (recovered): %v\n", state, r)
		}
	}()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(state + "\n")) // the peer's pid is the kernel's (SO_PEERCRED)
}

// ErrStopping means no daemon answers on the socket because the one
// that did is stopping: its admin socket closed at the end of its drain,
// it exits in a moment (its transport database still held until then).
// Not "starting"; "not running" once it is gone.
var ErrStopping = errors.New("umbra is stopping")

// startingMarkErr is ErrStarting for a daemon that starts with this
// client's socket and has not locked its database yet (ListenStarting),
// ErrStopping for one that stops (ListenStopping), naming its pid; nil
// when none does.
func (c *Client) startingMarkErr() error {
	if c.path == "" {
		return nil
	}
	conn, err := net.DialTimeout("unix", startingName(c.path), time.Second)
	if err != nil {
		return nil
	}
	defer conn.Close()
	uid, pid, ok := markPeer(conn)
	cmdline := cmdlineOf(pid)
	if !ok || pid == 0 || !c.trustedMark(uid, pid) {
		// Not umbra serve of this installation: an abstract name carries
		// no permission, any local process may bind it (rr24 F1).
		return nil
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.TrimSpace(line) == "stopping" {
		return c.shown(fmt.Errorf("%w: pid %d (%s) has ended its drain and closed its admin socket %s; it exits in a moment "+
			"(start it again once it is gone)", ErrStopping, pid, cmdline, c.path), cmdline)
	}
	return c.shown(fmt.Errorf("%w: pid %d (%s) is reading and checking its configuration, before it opens its transport database; "+
		"its admin socket %s answers once it is ready; try again in a moment", ErrStarting, pid, cmdline, c.path), cmdline)
}

// databaseHeld says whether a process holds the transport database
// (LockHolder): a stopping daemon does until it exits, so its "stopping"
// mark is believed only then (rr24 F1). True when the database is not
// known.
func (c *Client) databaseHeld() bool {
	if c.database == "" {
		return true
	}
	held, known, _, _ := queue.LockState(c.database)
	return held || !known // not listed, to a user who may not open it, is not "free" (rr-sockadm25 F2)
}

// markPeer is peerCred for the start mark: a test reports another uid
// than the kernel's (tests run as root, whose mark is trusted before
// its owner is looked at).
var markPeer = peerCred

// peerCred is the uid and pid of the process that listens at the other
// end of conn (SO_PEERCRED); ok false when not told.
func peerCred(conn net.Conn) (uid, pid int, ok bool) {
	uc, isUnix := conn.(*net.UnixConn)
	if !isUnix {
		return 0, 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			uid, pid, ok = int(cred.Uid), int(cred.Pid), true
		}
	})
	return uid, pid, ok
}

// trustedMark says whether the listener on the start mark, uid and pid
// (SO_PEERCRED), is umbra serve of this installation (rr24 F1): its uid
// root or the owner of the transport database, its data directory or
// the admin socket's directory; its executable the very file this
// command runs (or, replaced by an upgrade since it started, one that
// had this file's name); and serve its subcommand.
func (c *Client) trustedMark(uid, pid int) bool {
	if uid != 0 {
		owned := false
		for _, p := range []string{c.database, filepath.Dir(c.database), filepath.Dir(c.path)} {
			if p == "" || p == "." && c.database == "" {
				continue
			}
			if fi, err := os.Stat(p); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid {
					owned = true
					break
				}
			}
		}
		if !owned {
			return false
		}
	}
	self, err := os.Executable()
	if err != nil {
		return false
	}
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	mine, err1 := os.Stat(self)
	theirs, err2 := os.Stat(exe)
	if err1 != nil || err2 != nil || !os.SameFile(mine, theirs) {
		// An upgraded binary: the daemon runs the replaced file, now
		// "(deleted)", that had this one's name.
		target, err := os.Readlink(exe)
		if err != nil || target != self+" (deleted)" {
			return false
		}
	}
	return serveSubcommand(pid)
}

// serveSubcommand says whether the command line of pid is umbra's with
// serve as its subcommand: the first argument that is neither a flag nor
// the value of a root flag given apart (--config FILE, --socket PATH).
func serveSubcommand(pid int) bool {
	b, err := os.ReadFile(procDir + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c" || a == "--config" || a == "--socket":
			i++ // its value
		case strings.HasPrefix(a, "-"):
		default:
			return a == "serve"
		}
	}
	return false
}
