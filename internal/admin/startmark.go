package admin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
// (SO_PEERCRED). A process there that is not umbra serve is ignored.

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
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(state + "\n")) // the peer's pid is the kernel's (SO_PEERCRED)
			c.Close()
		}
	}()
	return l, nil
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
	pid := peerPid(conn)
	cmdline := cmdlineOf(pid)
	if pid == 0 || !strings.Contains(" "+cmdline+" ", " serve ") {
		return nil // not umbra serve: nothing said of it
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.TrimSpace(line) == "stopping" {
		return fmt.Errorf("%w: pid %d (%s) has ended its drain and closed its admin socket %s; it exits in a moment "+
			"(start it again once it is gone)", ErrStopping, pid, cmdline, c.path)
	}
	return fmt.Errorf("%w: pid %d (%s) is reading and checking its configuration, before it opens its transport database; "+
		"its admin socket %s answers once it is ready; try again in a moment", ErrStarting, pid, cmdline, c.path)
}

// peerPid is the pid of the process that listens at the other end of
// conn (SO_PEERCRED), 0 when not told.
func peerPid(conn net.Conn) int {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
