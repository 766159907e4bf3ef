package smtp

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// A write to the next hop that blocks waits on the next hop: its receive
// window is full because it reads slowly (a congested link, a tarpit on
// the body), and nothing of umbra's runs on the message meanwhile. The
// queue must not count a crash then against the message (queue
// AwaitingPeer), as it does not while umbra waits for a reply. But a
// write that does not block — the common case, the kernel takes the
// bytes at once — is umbra's code like the dot-stuffing and the reading
// of the body around it, and marking it costs a pwrite of the message's
// slot each way. So peerWriteConn, under every layer of an outbound
// session (TLS, the prelude's replay), writes through the socket itself
// and calls the client's await function (SetAwaitReply) only when the
// socket says it would block, ending the wait once the bytes are all
// taken. Every write of the session goes through it: commands, the body
// and its BDAT chunks, on SMTP and LMTP alike.
type peerWriteConn struct {
	net.Conn
	raw syscall.RawConn // nil: plain writes (a connection with no socket)
	c   *Client         // set once the client exists: its await function
	dl  deadlineCap     // the opening's deadlines bounded by its caller's (openbound.go)

	// The state of the Write under way, kept here with the function the
	// socket calls (writeFD, made once) so that a write allocates
	// nothing; mu holds it for one Write at a time (the socket takes
	// one writer at a time anyway).
	mu      sync.Mutex
	b       []byte
	n       int
	done    func()
	werr    error
	writeFD func(fd uintptr) bool
}

// newPeerWriteConn wraps the connection of an outbound session.
func newPeerWriteConn(conn net.Conn) *peerWriteConn {
	w := &peerWriteConn{Conn: conn}
	w.writeFD = w.write
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// SyscallConn is the socket's, for the looks that peek at it.
func (w *peerWriteConn) SyscallConn() (syscall.RawConn, error) {
	if w.raw == nil {
		return nil, syscall.EINVAL
	}
	return w.raw, nil
}

func (w *peerWriteConn) Write(b []byte) (int, error) {
	if w.raw == nil || w.c == nil || w.c.awaitReply == nil || len(b) == 0 {
		return w.Conn.Write(b)
	}
	w.mu.Lock()
	w.b, w.n, w.done, w.werr = b, 0, nil, nil
	err := w.raw.Write(w.writeFD)
	n, done, werr := w.n, w.done, w.werr
	w.b, w.done, w.werr = nil, nil, nil
	w.mu.Unlock()
	if done != nil {
		done()
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: w.LocalAddr(), Addr: w.RemoteAddr(), Err: err}
	}
	return n, nil
}

// write is the socket's side of Write: it writes w.b from w.n on, and
// says false to be called again once the socket takes more.
func (w *peerWriteConn) write(fd uintptr) bool {
	for w.n < len(w.b) {
		m, e := syscall.Write(int(fd), w.b[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			if w.done == nil {
				w.done = w.c.awaitingReply() // blocked on the next hop from here
			}
			return false // the runtime waits until the socket takes more (or the deadline)
		case e != nil:
			w.werr = os.NewSyscallError("write", e)
			return true
		case m == 0:
			w.werr = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}
