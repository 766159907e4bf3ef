package smtp

import (
	"io"
	"net"
	"os"
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
}

// newPeerWriteConn wraps the connection of an outbound session.
func newPeerWriteConn(conn net.Conn) *peerWriteConn {
	w := &peerWriteConn{Conn: conn}
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
	var done func()
	n := 0
	var werr error
	err := w.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			switch {
			case e == syscall.EINTR:
			case e == syscall.EAGAIN:
				if done == nil {
					done = w.c.awaitingReply() // blocked on the next hop from here
				}
				return false // the runtime waits until the socket takes more (or the deadline)
			case e != nil:
				werr = os.NewSyscallError("write", e)
				return true
			case m == 0:
				werr = io.ErrUnexpectedEOF
				return true
			}
		}
		return true
	})
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
