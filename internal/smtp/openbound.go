package smtp

import (
	"sync"
	"time"
)

// The opening of an outbound session (NewClient: the greeting, EHLO,
// STARTTLS and its handshake, the EHLO over TLS, HELO, LHLO, go-smtp's
// own greeting, and the QUIT of an opening that ends in step) sets its
// deadlines per step: command_timeout each, quitWait for the QUIT. None
// of them may pass the deadline of the caller's context: a QUIT after a
// refused EHLO once set two seconds from now whatever was left of the
// caller's time, and each step command_timeout. So every deadline set
// through the session's bottom layer (peerWriteConn, under TLS and the
// prelude's replay) while the opening runs is capped at the context's
// deadline; the cap is lifted when NewClient returns, the deadlines
// asked meanwhile applied as asked. The end of the context still closes
// the connection (NewClient's AfterFunc); the cap keeps the connection's
// own deadline from outliving it.
type deadlineCap struct {
	mu          sync.Mutex
	limit       time.Time // zero: none
	read, write time.Time // the deadlines as asked
}

// capped is t bounded by the limit (a zero t, no deadline, is the
// limit itself). Called with mu held.
func (d *deadlineCap) capped(t time.Time) time.Time {
	if d.limit.IsZero() || (!t.IsZero() && !t.After(d.limit)) {
		return t
	}
	return d.limit
}

func (w *peerWriteConn) SetDeadline(t time.Time) error {
	w.dl.mu.Lock()
	defer w.dl.mu.Unlock()
	w.dl.read, w.dl.write = t, t
	return w.Conn.SetDeadline(w.dl.capped(t))
}

func (w *peerWriteConn) SetReadDeadline(t time.Time) error {
	w.dl.mu.Lock()
	defer w.dl.mu.Unlock()
	w.dl.read = t
	return w.Conn.SetReadDeadline(w.dl.capped(t))
}

func (w *peerWriteConn) SetWriteDeadline(t time.Time) error {
	w.dl.mu.Lock()
	defer w.dl.mu.Unlock()
	w.dl.write = t
	return w.Conn.SetWriteDeadline(w.dl.capped(t))
}

// bound caps every deadline at limit from now on (zero: lifts the cap)
// and applies the deadlines asked so far under it.
func (w *peerWriteConn) bound(limit time.Time) {
	w.dl.mu.Lock()
	defer w.dl.mu.Unlock()
	w.dl.limit = limit
	w.Conn.SetReadDeadline(w.dl.capped(w.dl.read))
	w.Conn.SetWriteDeadline(w.dl.capped(w.dl.write))
}
