package smtp

import (
	"bytes"
	"time"
)

// Discard notifications are forgotten only once the peer provably has
// them (SPEC SR-15, W-4): the reply carrying them was written without
// error, and the peer's next command — read after that reply was written,
// so not one it had pipelined before seeing it — arrived. A connection
// that breaks before that leaves them stored, and they are sent again.
//
// discardAck is the acknowledgement waiting for that next command.
type discardAck struct {
	ack func()
	// skip is how many bytes of input were already buffered when the
	// reply was written: commands in them were sent before the peer could
	// have read it and prove nothing.
	skip int
}

// writeReply writes a reply and reports whether it was written in full.
func (v *verbConn) writeReply(lines ...string) error {
	var out bytes.Buffer
	for _, l := range lines {
		out.WriteString(l + "\r\n")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// At most idle_timeout, as every reply (replyWait): a peer that does
	// not read its discard list is cut off then (trackedConn.writeStuck).
	v.conn.SetWriteDeadline(time.Now().Add(v.replyWait()))
	err := v.writeHeld(out.Bytes())
	if err == nil && len(lines) > 0 {
		v.countReply([]byte(lines[len(lines)-1]))
	}
	return err
}

// deferAck holds ack until the peer's next command. A reply that was not
// written never acknowledges.
func (v *verbConn) deferAck(ack func()) {
	if ack == nil {
		return
	}
	v.acks = append(v.acks, discardAck{ack: ack, skip: v.r.Buffered()})
}

// peerSpoke is told of every command line read, with its length: the
// acknowledgements it proves are run.
func (v *verbConn) peerSpoke(n int) {
	keep := v.acks[:0]
	var run []func()
	for _, a := range v.acks {
		if a.skip > 0 {
			a.skip -= n
			keep = append(keep, a)
			continue
		}
		run = append(run, a.ack)
	}
	v.acks = keep
	for _, f := range run {
		f()
	}
}
