package smtp

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// A message body's writes are bounded by progress, not by a deadline per
// write. The kernel takes megabytes of a body into the socket's send
// buffer at once, and a write that then finds it full waits until the
// buffer is half empty: at a slow but steady next hop's pace that takes
// longer than any sensible deadline, though the next hop reads all the
// time. So bodyWatch looks every command timeout at how many bytes the
// next hop has acknowledged (TCP_INFO's bytes_acked, where the system
// tells it; else the bytes written): while that grows the body goes on,
// however long it takes (RFC 5321 §4.5.3.2.5 bounds a block, not the
// message); a timeout without any progress ends the write in progress
// (a deadline in the past), and the transaction fails as before. The
// last write returns while the kernel still holds much of the body, so
// the wait for the reply to the final dot (the data timeout) starts
// again at each progress until the next hop has taken it all: from the
// moment of that progress (the kernel says when the last acknowledgement
// came; elsewhere from the look that found it), so the wait after the
// next hop took the last byte is data_timeout, never more. What the next
// hop had taken when the final dot was written is the count the looks
// after it compare with: a body taken whole by then makes no progress
// later, and the reply is awaited data_timeout from the dot (a count
// from before the body, or from the last look while it was written,
// found "progress" at the first look and set the wait again from then:
// 1.5 times data_timeout, rt28d F2).
type bodyWatch struct {
	conn net.Conn     // what the body is written to (TLS or plain)
	tcp  *net.TCPConn // underneath, for the acknowledged count; nil: none
	d    time.Duration

	mu      sync.Mutex
	written uint64 // bytes written to conn
	seen    uint64 // progress at the last look
	timer   *time.Timer
	stopped bool
	reply   time.Duration // awaitReply's data timeout; 0 while writing
	until   time.Time     // the read deadline awaitReply set, moved only later
}

// watchBody starts watching writes to conn; stop must follow the last.
func watchBody(conn net.Conn, d time.Duration) *bodyWatch {
	// No look now: that would cost a system call per message. The first
	// look finds "progress" against 0 (the count is the connection's),
	// so a stall is noticed within two command timeouts, not one.
	w := &bodyWatch{conn: conn, tcp: underlyingTCP(conn), d: d}
	conn.SetWriteDeadline(time.Time{})
	w.timer = time.AfterFunc(d, w.look)
	return w
}

// progress is what the next hop has taken so far, and how long ago it
// last took something (0 where the system does not say).
func (w *bodyWatch) progress() (uint64, time.Duration) {
	if n, ago, ok := tcpBytesAcked(w.tcp); ok {
		return n, ago
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, 0
}

func (w *bodyWatch) look() {
	p, ago := w.progress()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if p != w.seen {
		w.seen = p
		if w.reply > 0 {
			if t := time.Now().Add(w.reply - ago); t.After(w.until) {
				w.until = t
				w.conn.SetReadDeadline(t)
			}
		}
		w.timer.Reset(w.every())
		return
	}
	if w.reply > 0 {
		w.timer.Reset(w.every()) // the read deadline set at the last progress runs out by itself
		return
	}
	w.conn.SetWriteDeadline(time.Now()) // stalled: the write under way fails, and so would the next
}

// every is the time between looks: the command timeout, and while the
// reply is awaited often enough that the read deadline is moved before
// it runs out. Called with w.mu held.
func (w *bodyWatch) every() time.Duration {
	if w.reply > 0 {
		return min(w.d, w.reply/2)
	}
	return w.d
}

// awaitReply follows the last write: the reply to the final dot is
// awaited for d from now and from each progress after it (one system
// call per message: the count at the dot).
func (w *bodyWatch) awaitReply(d time.Duration) {
	p, _ := w.progress() // what the next hop had taken at the final dot
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reply, w.seen = d, p
	w.until = time.Now().Add(d)
	w.conn.SetReadDeadline(w.until)
	if !w.stopped {
		w.timer.Reset(w.every())
	}
}

func (w *bodyWatch) Write(b []byte) (int, error) {
	n, err := w.conn.Write(b)
	w.mu.Lock()
	w.written += uint64(n)
	w.mu.Unlock()
	return n, err
}

// stop ends the watch after the body's last write.
func (w *bodyWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}

// underlyingTCP finds the TCP connection under the layers umbra puts on
// a client connection (TLS, the prelude's replay, the reply bound).
func underlyingTCP(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case *replayConn:
			c = v.Conn
		case *shadowConn:
			c = v.Conn
		case *replyLimitConn:
			c = v.Conn
		case *peerWriteConn:
			c = v.Conn
		default:
			return nil
		}
	}
	return nil
}
