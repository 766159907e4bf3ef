package smtp

import (
	"bufio"
	"bytes"
	"io"
	"sync"

	"umbra/internal/queue"
)

// The DATA path reads a body in as few passes and system calls as it
// can, with the same framing (RFC 5321 §4.1.1.4) and limits:
//   - The end of data is found by searching for CRLF "." CRLF
//     (scanDataEnd), not by a state machine stepped on every byte: the
//     state carried between pieces is how much of the marker the last
//     piece ended with, as the state machine would have it (the
//     differential FuzzScanDataEnd holds the two equal).
//   - Once a body has passed dataWideAfter bytes and is still being
//     kept, and the layer's 4 KiB reader is empty, the body is read
//     through a pooled reader of dataReadSize bytes (a 100 KiB body took
//     25+ read(2) calls through 4 KiB); it goes back to its pool as soon
//     as it is empty outside a body, before the next command is waited
//     for. So a session holds it only while it holds at least as much
//     body (in memory, or the spool writer's 64 KiB), and the bytes
//     after the end of data stay in the one reader the command framer
//     reads: nothing is read twice or dropped.
//   - An in-memory body's buffer comes from a pool, sized by what the
//     buffers of the last bodies grew to, and goes back once the session
//     copied the body out (releaseBody): a body no longer grows from
//     4 KiB by doubling on every connection. A buffer past maxIdleBody
//     (past spool_threshold on a session that spools) is used again only
//     for a body declared (MAIL SIZE=) at least half its size; otherwise
//     it is let go, so one large message does not leave its buffer in
//     every later small message's hands.

// endMarker is what ends a DATA body: CRLF "." CRLF, the body starting
// as if after a CRLF.
var endMarker = []byte("\r\n.\r\n")

// States of the end-of-data scan: how many bytes of endMarker the body
// so far ends with (never all five: that is the end). A body starts at
// dBegin, as after a CRLF. A bare LF never starts a line, and a CR
// before the CRLF is a bare CR (data). go-smtp's own reader (data.go)
// takes "\r\r\n.\r\n" for data; it never reads a body here, so the
// layer follows RFC 5321 §4.1.1.4 instead.
const (
	dData  = iota // inside a line
	dCR           // "\r" seen
	dBegin        // at the start of a line (after CRLF)
	dDot          // "." at the start of a line
	dDotCR        // ".\r" at the start of a line
)

// scanDataEnd scans buf, the next piece of a DATA body, from state st.
// It returns the bytes of buf that belong to the body (its end marker
// included) and whether the marker ended in them, and the state after
// buf when it did not.
func scanDataEnd(st int, buf []byte) (n int, ended bool, next int) {
	i := 0
	// A marker begun in the last piece: follow it to its end or until
	// it is broken (a byte that does not go on with it is either a CR,
	// which may start a new one, or data).
	for st != dData && i < len(buf) {
		c := buf[i]
		i++
		switch {
		case c == endMarker[st]:
			st++
			if st == len(endMarker) {
				return i, true, dData
			}
		case c == '\r':
			st = dCR
		default:
			st = dData
		}
	}
	rest := buf[i:]
	if len(rest) == 0 {
		return len(buf), false, st
	}
	if j := bytes.Index(rest, endMarker); j >= 0 {
		return i + j + len(endMarker), true, dData
	}
	// Nothing before rest is part of a marker: the state is the longest
	// end of rest that begins one.
	for k := len(endMarker) - 1; k > 0; k-- {
		if len(rest) >= k && bytes.Equal(rest[len(rest)-k:], endMarker[:k]) {
			return len(buf), false, k
		}
	}
	return len(buf), false, dData
}

const (
	// dataReadSize is the reader a kept body past dataWideAfter bytes
	// is read through.
	dataReadSize = 32 << 10
	// maxPooledBody: larger body buffers are not pooled.
	maxPooledBody = 1 << 20
	// maxIdleBody: the largest buffer a body of unknown or smaller
	// declared size (MAIL SIZE=) starts with; one that grew larger for
	// an earlier message is let go instead, so a session, and the
	// in-memory budget (bodymem.go), never holds a large message's
	// buffer for a small one.
	maxIdleBody = 128 << 10
)

// dataWideAfter: the body bytes a session holds before it takes the
// larger reader (FuzzFramingWide sets 0).
var dataWideAfter int64 = 16 << 10

var dataReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, dataReadSize) }}

// widenReader reads on through a pooled dataReadSize reader; only with
// the command reader empty, so no byte is left behind in it.
func (v *verbConn) widenReader() {
	if v.dataR != nil || v.r.Buffered() > 0 {
		return
	}
	br := dataReaders.Get().(*bufio.Reader)
	br.Reset(heldFirst{v, v.conn})
	v.cmdR, v.dataR, v.r = v.r, br, br
}

// narrowReader goes back to the command reader once the larger one is
// empty, and returns the larger one to its pool.
func (v *verbConn) narrowReader() {
	if v.dataR == nil || v.r != v.dataR || v.r.Buffered() > 0 {
		return
	}
	br := v.dataR
	v.r, v.dataR, v.cmdR = v.cmdR, nil, nil
	br.Reset(nil)
	dataReaders.Put(br)
}

// forgetReaders: the connection has a new reader (STARTTLS); the larger
// one, empty by then, is dropped, never read again.
func (v *verbConn) forgetReaders() {
	v.dataR, v.cmdR = nil, nil
}

var bodyBufs sync.Pool // []byte of cap <= maxPooledBody, length 0

// bodyBuf returns an empty buffer for a body kept in memory.
func bodyBuf() []byte {
	if b, ok := bodyBufs.Get().([]byte); ok {
		return b[:0]
	}
	return nil
}

func putBodyBuf(b []byte) {
	if c := cap(b); c > 0 && c <= maxPooledBody {
		bodyBufs.Put(b[:0])
	}
}

// fitBodyBuf is the buffer a body of want bytes (bodySizeHint; 0:
// unknown) starts with, given mem, the session's or the pool's: mem
// when it fits, a new one of want bytes when mem is smaller, none (grown
// as the body comes) when mem grew for a message much larger than this
// one: such a buffer is let go, not held for small messages as long as
// they keep it in use.
//
// idle is the largest buffer a body of unknown size keeps: maxIdleBody,
// or spool_threshold on a session that spools (whose buffer never grows
// past it, and which reaches it with every large message).
func fitBodyBuf(mem []byte, want, idle int) []byte {
	if cap(mem) > max(2*want, idle) {
		mem = nil
	}
	if cap(mem) < want {
		putBodyBuf(mem)
		mem = make([]byte, 0, want)
	}
	return mem
}

// idleBody is fitBodyBuf's idle for the session's next body.
func (v *verbConn) idleBody() int {
	if s := v.sess(); s != nil && s.spooling() && s.srv.spoolThreshold > 0 {
		return int(max(min(s.srv.spoolThreshold, maxPooledBody), maxIdleBody))
	}
	return maxIdleBody
}

// bodySizeHint is the buffer a body declared with MAIL SIZE= gets at
// once, instead of growing to it: the declared size with room for a
// count that is a little off, never past what the session would hold in
// memory anyway (transport.spool_threshold when it spools) nor
// maxPooledBody. A client that declares more than it sends holds no
// more than one that sends it.
func (v *verbConn) bodySizeHint() int {
	s := v.sess()
	if s == nil || s.declaredSize <= 0 {
		return 0
	}
	limit := int64(maxPooledBody)
	if s.spooling() && s.srv.spoolThreshold > 0 {
		limit = min(limit, s.srv.spoolThreshold)
	}
	n := s.declaredSize
	return int(min(n+n/64+256, limit))
}

// releaseBody returns the buffer of the body just taken (takeBody) to
// the pool; the caller has copied the body out and holds no part of it.
func (v *verbConn) releaseBody() {
	b := v.sink.mem
	v.sink.mem, v.body = nil, nil
	v.sink.hold(0)
	putBodyBuf(b)
}

// A message delivered is dot-stuffed into a buffer a chunk at a time
// (stuffPart); the buffer comes from a pool, so a 100 KiB message does
// not allocate (and the collector clear) 64 KiB for every delivery.
// Every emit copies what it is given or writes it before it returns.
var stuffBufs sync.Pool // []byte, length 0

// maxPooledStuff: larger stuffing buffers are not pooled.
const maxPooledStuff = 256 << 10

func stuffBuf(n int) []byte {
	if b, ok := stuffBufs.Get().([]byte); ok && cap(b) >= n {
		return b[:0]
	}
	return make([]byte, 0, n)
}

func putStuffBuf(b []byte) {
	if c := cap(b); c > 0 && c <= maxPooledStuff {
		stuffBufs.Put(b[:0])
	}
}

// bodyWriters pools delivery's body writers (bodyWrites): a message no
// longer allocates up to dataChunk bytes for them.
var bodyWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, dataChunk) }}

func bodyWriter(w io.Writer) *bufio.Writer {
	bw := bodyWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

// putBodyWriter returns a flushed writer; nothing writes to it after.
func putBodyWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	bodyWriters.Put(bw)
}

// onlyCRLF reports whether every CR and LF in b is part of a CRLF: each
// LF follows a CR, and there are no more CRs than LFs (a vectorised
// count). bareNewline then needs no search for CR line by line.
func onlyCRLF(b []byte) bool {
	only, _ := crlfLines(b)
	return only
}

// crlfLines is onlyCRLF, and, when only, whether b holds a byte above
// 127 (queue.Has8bit), looked for in each line while the search for
// its LF has just read it, not in a pass of its own over the body.
func crlfLines(b []byte) (only, eight bool) {
	lf := 0
	i := 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return false, false
		}
		if !eight {
			eight = queue.Has8bit(b[i : i+j])
		}
		lf++
		i += j + 1
	}
	if bytes.Count(b, crByte) != lf {
		return false, false
	}
	return true, eight || queue.Has8bit(b[i:])
}
