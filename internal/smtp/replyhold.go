package smtp

import (
	"bytes"
	"io"
)

// Pipelined replies (RFC 2920 §3.1: a server should not send a reply
// while more pipelined commands are waiting): a 250 to MAIL or RCPT is
// held back while the next command line has arrived already, and goes
// out in front of the next reply — a pipelined MAIL, RCPT … DATA (a
// shadow copy on receipt, a relay between transport servers) is
// answered in one write, one segment and one wakeup of the client
// instead of one per command. Held replies are written before the layer
// reads the network again (heldFirst, under its reader), so a client
// waiting for them is never kept waiting: nothing is held while the
// session waits for input. Only replies to MAIL and RCPT are held, never
// a 421 or one that ends the session; any other reply is written at once
// with what was held before it.

// holdable reports whether the final reply b (to the command v.last)
// may wait for the next reply: a reply to MAIL or RCPT while a complete
// command line is buffered behind it, on a connection not about to be
// closed.
func (v *verbConn) holdable(b []byte) bool {
	if v.last != "MAIL" && v.last != "RCPT" || bytes.HasPrefix(b, []byte("421")) || v.tc.hangUp.Load() {
		return false
	}
	n := v.r.Buffered()
	if n == 0 {
		return false
	}
	buf, _ := v.r.Peek(n)
	return bytes.IndexByte(buf, '\n') >= 0
}

// writeHeld writes the replies held back, then b, in one write, and
// forgets them; the held replies are counted (cmdcount.go) only when
// the write succeeded. The caller holds v.mu.
func (v *verbConn) writeHeld(b []byte) error {
	out := b
	if len(v.held) > 0 {
		out = append(v.held, b...)
		v.held = nil
	}
	counts := v.heldCounts
	v.heldCounts = nil
	if len(out) == 0 {
		return nil
	}
	if _, err := v.conn.Write(out); err != nil {
		return err
	}
	for _, c := range counts {
		v.observeReply(c.cmd, c.code)
	}
	return nil
}

// flushHeld writes the replies held back.
func (v *verbConn) flushHeld() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.held) > 0 {
		v.writeHeld(nil) // a failed write fails the read that follows
	}
}

// heldFirst is what the layer's buffered reader reads: the held replies
// are written before it reads the network.
type heldFirst struct {
	v *verbConn
	r io.Reader
}

func (h heldFirst) Read(b []byte) (int, error) {
	if !h.v.inChunk {
		// Inside a BDAT chunk the client sends the chunk whatever the
		// replies say (RFC 3030): the replies to a pipelined MAIL and
		// RCPT wait for the reply to the BDAT, one write for all (a
		// copy on receipt in one round trip, version 5).
		h.v.flushHeld()
	}
	return h.r.Read(b)
}
