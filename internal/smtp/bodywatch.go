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
// time. So bodyWatch looks at how many bytes the
// next hop has acknowledged (TCP_INFO's bytes_acked, where the system
// tells it; else the bytes written): while that grows the body goes on,
// however long it takes (RFC 5321 §4.5.3.2.5 bounds a block, not the
// message); a command timeout without any progress (from the time of
// the last progress, not from the look that found it) ends the write in progress
// (a deadline in the past), and the transaction fails as before.
//
// When the progress was made: for the bytes written, when the write
// returned; for the kernel's count, the look that saw it change (it says
// nothing closer: TCP_INFO's last_ack_recv is the last acknowledgement
// of any kind, and a next hop that stops reading answers the kernel's
// zero-window and keepalive probes all through the stall, so dating by it
// found a stall 1.5 to 2 command timeouts after the last byte). The
// looks come every eighth of the timeout they watch, so progress is
// dated at most that late: a stall is given up between one and 1.125
// command timeouts after the next hop last took a byte.
//
// The last write returns while the kernel still holds much of the body,
// so the wait for the reply to the final dot (the data timeout) starts
// again at each progress until the next hop has taken it all, dated as
// above: the wait after the next hop took the last byte is data_timeout
// (at most an eighth more). The looks enforce that wait: one is always
// due no later than the wait's end, and the one at its end, finding no
// progress, ends the read (a deadline of now); the read deadline,
// an eighth later, is a backstop for a look that never came. (Looks
// every half data timeout against a read deadline set at the dot never
// saw progress made after a look that found none before the deadline
// fired: given up 0.4 data timeouts after the last progress.) What the
// next hop had taken when the final dot was written is the count the
// looks after it compare with: a body taken whole by then makes no
// progress later, and the reply is awaited data_timeout from the dot (a
// count from before the body, or from the last look while it was
// written, found "progress" at the first look and set the wait again
// from then: 1.5 times data_timeout, rt28d F2).
type bodyWatch struct {
	conn net.Conn     // what the body is written to (TLS or plain)
	tcp  *net.TCPConn // underneath, for the acknowledged count; nil: none
	d    time.Duration
	now  func() time.Time // time.Now; a test's clock

	mu      sync.Mutex
	written uint64    // bytes written to conn
	wroteAt time.Time // when the last write returned
	seen    uint64    // progress at the last look
	seenAt  time.Time // when the next hop last took something, as far as known
	due     time.Time // when the next look is due
	timer   *time.Timer
	stopped bool
	reply   time.Duration // awaitReply's data timeout; 0 while writing
	until   time.Time     // when the wait for the reply ends, moved only later
	floor   time.Time     // the wait ends no earlier (waitAtLeast)
}

// watchBody starts watching writes to conn; stop must follow the last.
func watchBody(conn net.Conn, d time.Duration) *bodyWatch {
	// No look now: that would cost a system call per message a command
	// timeout's eighth would see written. The first look finds
	// "progress" against 0 (the count is the connection's) and dates it
	// at the latest at itself, never earlier than the watch's start.
	w := &bodyWatch{conn: conn, tcp: underlyingTCP(conn), d: d, now: time.Now}
	w.seenAt = w.now()
	conn.SetWriteDeadline(time.Time{})
	// Under mu: a first look due sooner than this goroutine's next step
	// resets the timer it reads here (resetTimer, with mu held).
	w.mu.Lock()
	w.timer = time.AfterFunc(w.every(), w.look)
	w.mu.Unlock()
	return w
}

// progress is what the next hop has taken so far, and when it last took
// something: with the kernel's count, now (the look that finds it
// changed dates it: see above), else the last write.
func (w *bodyWatch) progress() (uint64, time.Time) {
	if n, _, ok := tcpBytesAcked(w.tcp); ok {
		return n, w.now()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.wroteAt
}

func (w *bodyWatch) look() {
	p, at := w.progress()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	now := w.now()
	if p != w.seen {
		w.seen = p
		if at.After(w.seenAt) {
			w.seenAt = at
		}
		if w.reply > 0 {
			if t := w.seenAt.Add(w.reply); t.After(w.until) {
				w.until = t
				w.conn.SetReadDeadline(w.backstop())
			}
		}
	}
	if w.reply > 0 {
		end := w.end()
		if !now.Before(end) {
			w.conn.SetReadDeadline(now) // nothing taken for data_timeout: the read ends
			return
		}
		w.resetTimer(min(w.every(), end.Sub(now))) // a look at the wait's end at the latest
		return
	}
	idle := now.Sub(w.seenAt)
	if idle >= w.d {
		w.conn.SetWriteDeadline(now) // stalled: the write under way fails, and so would the next
		return
	}
	w.resetTimer(min(w.every(), w.d-idle)) // at the latest a command timeout after the last progress
}

// resetTimer has the next look come in d (a millisecond at least: a
// look due at the wait's end comes once, not in a spin up to it).
// Called with w.mu held.
func (w *bodyWatch) resetTimer(d time.Duration) {
	d = max(d, time.Millisecond)
	w.due = w.now().Add(d)
	w.timer.Reset(d)
}

// every is the time between looks: an eighth of the timeout watched
// (the command timeout while the body is written, the data timeout
// while the reply is awaited), the most a progress is dated late.
// Called with w.mu held.
func (w *bodyWatch) every() time.Duration {
	if w.reply > 0 {
		return max(w.reply/8, time.Millisecond)
	}
	return max(w.d/8, time.Millisecond)
}

// backstop is the read deadline while the reply is awaited: later than
// the look due at the wait's end, which ends the read itself. Called
// with w.mu held.
func (w *bodyWatch) backstop() time.Time { return w.end().Add(w.every()) }

// end is when the wait for the reply ends: data_timeout after the last
// progress, and no earlier than a waitAtLeast asked. Called with w.mu
// held.
func (w *bodyWatch) end() time.Time {
	if w.floor.After(w.until) {
		return w.floor
	}
	return w.until
}

// waitAtLeast has the read that follows awaitReply wait at least d from
// now, however long ago the next hop took its last byte: a reply of a
// group sent with the body (a copy pushed in one trip or a batch, whose
// MAIL and RCPT replies may come after the body, or one by one) is
// awaited for its own timeout, and the body's reply for data_timeout
// after the last progress too.
func (w *bodyWatch) waitAtLeast(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t := w.now().Add(d); t.After(w.floor) {
		w.floor = t
	}
	w.conn.SetReadDeadline(w.backstop())
	if !w.stopped {
		w.resetTimer(min(w.every(), w.end().Sub(w.now())))
	}
}

// awaitReply follows the last write: the reply to the final dot is
// awaited for d from now and from each progress after it (one system
// call per message: the count at the dot).
func (w *bodyWatch) awaitReply(d time.Duration) {
	p, _ := w.progress() // what the next hop had taken at the final dot
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reply, w.seen = d, p
	w.until = w.now().Add(d)
	w.conn.SetReadDeadline(w.backstop())
	if !w.stopped {
		w.resetTimer(w.every())
	}
}

func (w *bodyWatch) Write(b []byte) (int, error) {
	n, err := w.conn.Write(b)
	w.mu.Lock()
	w.written += uint64(n)
	if n > 0 {
		w.wroteAt = w.now()
	}
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
