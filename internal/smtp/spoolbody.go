package smtp

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"umbra/internal/header"
	"umbra/internal/queue"
)

// Large messages stream (issue 15). The verb layer keeps a body (DATA
// after unstuffing, or the BDAT chunks) in memory up to the spool
// threshold; past it the body goes to a spool file (queue.SpoolFile) in
// writes of at most spoolWrite bytes as it is read, and memory holds no
// more of it than the threshold did. The session then works on the
// header section alone (at most max_header_size, kept by the sink as it
// passes) and stores the message as that edited header section followed
// by the file from the end of the original header section on
// (queue.Body.WithHead). Everything the session decides on the whole
// body — NUL, empty message, bare CR or LF — the sink counts as the bytes
// go by (bodyStats), with the same answers as the in-memory checks
// (checkBody, bareNewline). A spool file is aborted on every path that
// does not end in a commit naming it.

// spoolWrite is the largest write to a spool file.
const spoolWrite = 64 << 10

// unstuffer is unstuffData as a stream: it is fed a DATA body as received
// (the end marker included) in pieces cut anywhere, and emits the message
// in runs, byte for byte what unstuffData makes of the whole.
type unstuffer struct {
	started bool
	bol     bool // at the start of a line (after CRLF, or at the start)
	dot     bool // a '.' starting a line was taken (dropped)
	dotCR   bool // … followed by a CR, held back: with LF it is the end
	lastCR  bool // the last byte emitted was a CR
	done    bool // the end marker was read
}

var crByte = []byte{'\r'}

func (u *unstuffer) feed(p []byte, emit func([]byte)) {
	if !u.started {
		u.started, u.bol = true, true
	}
	for i := 0; i < len(p) && !u.done; {
		switch {
		case u.dotCR:
			u.dotCR = false
			if p[i] == '\n' {
				u.done = true
				return
			}
			emit(crByte) // ".\r" then not LF: the dot was stuffing, the CR is data
			u.lastCR = true
		case u.dot:
			u.dot = false
			u.lastCR = false
			if p[i] == '\r' {
				u.dotCR = true
				i++
				continue
			}
		case u.bol:
			u.bol = false
			if p[i] == '.' {
				u.dot = true
				i++
				continue
			}
		case u.lastCR && p[i] == '\n':
			// A CRLF cut between pieces: a line starts after it.
			emit(p[i : i+1])
			u.bol, u.lastCR = true, false
			i++
			continue
		}
		// Everything up to the next line that starts with a dot is
		// emitted in one run (only CRLF starts a line).
		if j := bytes.Index(p[i:], dotLine); j >= 0 {
			emit(p[i : i+j+2])
			u.bol, u.lastCR = true, false
			i += j + 2
			continue
		}
		rest := p[i:]
		emit(rest)
		switch last := rest[len(rest)-1]; {
		case last == '\n' && len(rest) >= 2:
			u.bol, u.lastCR = rest[len(rest)-2] == '\r', false
		case last == '\n':
			u.bol, u.lastCR = u.lastCR, false
		default:
			u.lastCR = last == '\r'
		}
		return
	}
}

// dotLine is a line that starts with a dot, after the CRLF before it.
var dotLine = []byte("\r\n.")

// bodyStats is what the session checks on a whole body (checkBody),
// counted as it streams by.
type bodyStats struct {
	nul      bool   // a NUL byte
	bare     byte   // the first bare CR or LF ('\r', '\n'), as bareNewline
	lastCR   bool   // the last byte was a CR (its verdict waits for the next)
	nonSpace bool   // a rune that is not white space: not empty (emptyMessage)
	eight    bool   // a byte above 127 (checkBody's eight)
	carry    []byte // a UTF-8 sequence cut by the end of the last piece
	n        int64
}

func (s *bodyStats) scan(p []byte) {
	s.n += int64(len(p))
	if !s.nul && bytes.IndexByte(p, 0) >= 0 {
		s.nul = true
	}
	if !s.eight {
		s.eight = queue.Has8bit(p)
	}
	s.scanSpace(p)
	for i := 0; i < len(p) && s.bare == 0; {
		if s.lastCR {
			s.lastCR = false
			if p[i] != '\n' {
				s.bare = '\r'
				return
			}
			i++
			continue
		}
		j := bytes.IndexByte(p[i:], '\n')
		seg := p[i:]
		if j >= 0 {
			seg = p[i : i+j]
		}
		if k := bytes.IndexByte(seg, '\r'); k >= 0 && k != len(seg)-1 {
			s.bare = '\r'
			return
		} else if k >= 0 && j < 0 {
			s.lastCR = true // a CR at the end of p
			return
		} else if k < 0 && j >= 0 {
			s.bare = '\n'
			return
		}
		if j < 0 {
			return
		}
		i += j + 1
	}
}

// scanSpace looks for a rune that is not white space, as
// bytes.TrimSpace decides (an invalid byte is not space).
func (s *bodyStats) scanSpace(p []byte) {
	for i := 0; i < len(p) && !s.nonSpace; {
		if len(s.carry) == 0 && p[i] < utf8.RuneSelf {
			s.nonSpace = !asciiSpace(p[i])
			i++
			continue
		}
		need := min(len(p)-i, utf8.UTFMax-len(s.carry))
		buf := append(s.carry[:len(s.carry):len(s.carry)], p[i:i+need]...)
		if !utf8.FullRune(buf) {
			s.carry = buf // p ends inside the sequence
			return
		}
		r, size := utf8.DecodeRune(buf)
		if r == utf8.RuneError && size == 1 || !unicode.IsSpace(r) {
			s.nonSpace = true
			return
		}
		i += size - len(s.carry)
		s.carry = s.carry[:0]
	}
}

// empty: the whole body was white space (emptyMessage), once it ended.
func (s *bodyStats) empty() bool {
	return !s.nonSpace && len(s.carry) == 0
}

// end is the verdict on bare newlines once the body ended.
func (s *bodyStats) end() byte {
	if s.bare == 0 && s.lastCR {
		return '\r'
	}
	return s.bare
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// The header section of a message ends at its first empty line (which
// belongs to it) or at the first line that is neither a header field
// ("name:" — printable ASCII but ':' and space, then optional blanks
// before the colon) nor a continuation (a line
// starting with a blank after a field): the body starts with that line
// (RFC 5322 §2.1, §3.5).
// So only a real header section is held to max_header_size, a message
// whose first lines are not header fields is all body, and nothing in
// the body is ever taken for a header field (the header firewall, the
// trace work and Body.WithHead split the message there). The rest is
// stored byte for byte as sent; where the header section ended at a line
// that is not a field, session.message puts the empty line before it.
// Whether a line starts a field is header.FieldStart's decision, which
// the milter replay makes with the same function (package milter).
//
// The end is decided on the first max_header_size+1 bytes alone, line
// by line as they arrive, so the in-memory and the spooled path (which
// sees the message in pieces) find the same end (headerWindow).

// headerSection scans msg, the start of a message, for the end of its
// header section: n is its length (end true) when the end lies within
// msg; else n is the length of the lines known to be header lines. final
// says msg is the whole message: its last line, without CRLF, counts as
// a line.
func headerSection(msg []byte, final bool) (n int, end bool) {
	var h headerScan
	end = h.scan(msg, final)
	return h.n, end
}

// headerScan is headerSection resumable: scan may be called again with
// msg grown (the same bytes in front), and goes on from the lines it has
// decided, so a header section arriving in pieces is read once.
type headerScan struct {
	n     int  // the header lines decided so far
	field bool // a header field was seen (a blank line start continues it)
}

func (h *headerScan) scan(msg []byte, final bool) (end bool) {
	for h.n < len(msg) {
		line := msg[h.n:]
		complete := false
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, complete = line[:i+1], true
		}
		if !complete && !final && bytes.Equal(line, []byte("\r")) {
			return false // maybe the empty line
		}
		switch {
		case bytes.Equal(line, []byte("\r\n")):
			h.n += 2
			return true
		case line[0] == ' ' || line[0] == '\t':
			if !h.field {
				return true // a blank at the start continues nothing
			}
		default:
			switch headerFieldStart(line) {
			case hdrNotField:
				return true
			case hdrUndecided:
				if !complete && !final {
					return false // the rest of the line decides
				}
				return true // a whole line without the colon
			}
			h.field = true
		}
		if !complete && !final {
			return false // a header line, not yet whole
		}
		h.n += len(line)
	}
	return final
}

const (
	hdrField     = header.Field
	hdrNotField  = header.NotField
	hdrUndecided = header.Undecided
)

// headerFieldStart classifies a line by its start (header.FieldStart,
// the one authority on it: the milter replay splits the header section
// with it too).
func headerFieldStart(line []byte) int {
	kind, _ := header.FieldStart(line)
	return kind
}

// HeaderSectionLen is the length of the header section of content, a
// whole message or a check's Transaction.Content, through its empty
// line when it has one: the receive side's one decision on where the
// header section ends (headerSection), for the checks that read header
// fields (message authentication), so that none reads past the line
// where umbra's header section ends.
func HeaderSectionLen(content []byte) int {
	n, _ := headerSection(content, true)
	return n
}

// headerWindow is the length of the header section of a message whose
// first bytes are window — at most max+1 of them; final: the message is
// no longer — or max+1 when the header section is longer than max.
func headerWindow(window []byte, final bool, max int) int {
	n, end := headerSection(window, final)
	switch {
	case end || final:
		return n
	case len(window) > max:
		return max + 1 // still inside the header section past the limit
	}
	return n
}

// headerSectionLen is the length of the header section of msg, a whole
// message, as the spooled path finds it (max+1: longer than max).
func headerSectionLen(msg []byte, max int) int {
	w := msg[:min(len(msg), max+1)]
	return headerWindow(w, len(msg) <= max+1, max)
}

// bodySink keeps one body: in memory up to threshold, then in a spool
// file. n counts what it was given (before any normalisation), for the
// size limit.
type bodySink struct {
	threshold int64
	maxHead   int
	newSpool  func() (*queue.SpoolFile, error)
	normalize bool // bare CR and LF become CRLF in the file (bare_newlines: normalize)

	mem   []byte
	n     int64
	spool *queue.SpoolFile
	wbuf  []byte
	pend  bool // normalising: a CR ended the last piece
	// dotted: a DATA body, whose dot starting a line a bare newline
	// began is transparency (normalizeNewlines); dotNext: a bare newline
	// ended the last piece.
	dotted, dotNext bool

	stats bodyStats
	head  []byte // the header section of the file's content, as it passes
	hdone bool   // head is complete (its end seen, or over maxHead)
	err   error  // the spool file failed

	written int64      // the content's bytes so far (after normalising)
	hscan   headerScan // where the header section's end stands in head
	hbuf    []byte     // traceRoom bytes, then head

	budget *memBudget // the server's in-memory body bytes (bodymem.go)
	held   int64      // what this sink holds of it: cap(mem)
}

func (k *bodySink) write(p []byte) {
	k.n += int64(len(p))
	if k.err != nil {
		return
	}
	if k.spool == nil {
		if k.newSpool == nil || int64(len(k.mem)+len(p)) <= k.threshold {
			if k.growMem(len(p)) {
				k.mem = append(k.mem, p...)
				return
			}
			// Past the server's in-memory budget (bodymem.go).
			if k.newSpool == nil {
				// Counted refused when the 452 is answered (session
				// data), not here: the client may yet go away.
				k.err = errBodyMemory
				k.dropMem()
				return
			}
			k.budget.spilled.Add(1)
		}
		f, err := k.newSpool()
		if err != nil {
			k.err = err
			k.dropMem()
			return
		}
		k.spool, k.wbuf = f, make([]byte, 0, spoolWrite)
		mem := k.mem
		k.pass(mem)
		k.mem = nil
		k.hold(0)
		putBodyBuf(mem) // copied on: the next body may have it
	}
	k.pass(p)
}

// growMem makes room for n more bytes in mem by doubling (at most to
// the threshold when spooling): a body fed line by line is copied about
// once on its way to the threshold, not the several times Go's 1.25x
// growth of large slices adds up to. false: the server's in-memory
// budget does not cover the larger buffer, even at the size needed
// (mem is unchanged).
func (k *bodySink) growMem(n int) bool {
	if len(k.mem)+n <= cap(k.mem) {
		return true
	}
	need := len(k.mem) + n
	c := max(2*cap(k.mem), need, 4096)
	if k.newSpool != nil {
		c = min(c, max(int(k.threshold), need))
	}
	if !k.hold(c) && (c == need || !k.hold(need)) {
		return false
	}
	if c > need && k.held == int64(need) {
		c = need // the budget covered only what is needed
	}
	nb := make([]byte, len(k.mem), c)
	copy(nb, k.mem)
	k.mem = nb
	return true
}

// dropMem lets the body buffer go (not to the pool: part of it may be
// held elsewhere) and gives its reservation back.
func (k *bodySink) dropMem() {
	k.mem = nil
	k.hold(0)
}

// pass sends p on to the file, counted and (normalising) made CRLF-only.
func (k *bodySink) pass(p []byte) {
	if k.err != nil {
		return
	}
	k.stats.scan(p)
	if !k.normalize {
		k.out(p)
		return
	}
	for i := 0; i < len(p); {
		if k.dotNext {
			k.dotNext = false
			if p[i] == '.' {
				i++
				continue
			}
		}
		if k.pend {
			k.pend = false
			k.out([]byte("\r\n"))
			if p[i] == '\n' {
				i++
			} else {
				k.dotNext = k.dotted // a bare CR began this line
			}
			continue
		}
		j := bytes.IndexAny(p[i:], "\r\n")
		if j < 0 {
			k.out(p[i:])
			return
		}
		k.out(p[i : i+j])
		i += j
		bare := true
		if p[i] == '\r' {
			if i+1 == len(p) {
				k.pend = true // CRLF or a bare CR: the next piece says
				return
			}
			if p[i+1] == '\n' {
				i, bare = i+1, false
			}
		}
		k.out([]byte("\r\n"))
		i++
		k.dotNext = bare && k.dotted
	}
}

// out buffers content for the file, writing it in pieces of spoolWrite.
func (k *bodySink) out(p []byte) {
	k.keepHead(p)
	for len(p) > 0 && k.err == nil {
		n := min(len(p), spoolWrite-len(k.wbuf))
		k.wbuf = append(k.wbuf, p[:n]...)
		p = p[n:]
		if len(k.wbuf) == spoolWrite {
			k.flush()
		}
	}
}

func (k *bodySink) flush() {
	if len(k.wbuf) > 0 && k.err == nil {
		if _, err := k.spool.Write(k.wbuf); err != nil {
			k.err = err
		}
	}
	k.wbuf = k.wbuf[:0]
}

// keepHead copies the start of the content as it passes, up to
// maxHead+1 bytes (one more says the header section is too long), until
// the end of the header section is known (headerSection); finish cuts it
// there.
func (k *bodySink) keepHead(p []byte) {
	k.written += int64(len(p))
	if k.hdone {
		return
	}
	take := p[:min(len(p), k.maxHead+1-len(k.head))]
	if k.hbuf == nil || len(k.hbuf)+len(take) > cap(k.hbuf) {
		// Grown by doubling up to the limit, with traceRoom in front,
		// so a large header section is copied about once and the
		// session never holds more than twice it (headroom, not
		// Go's 1.25x growth of large slices, whose copies add up).
		c := max(traceRoom+len(k.head)+len(take), 2*cap(k.hbuf), traceRoom+4096)
		c = min(c, traceRoom+k.maxHead+1)
		nb := make([]byte, traceRoom+len(k.head), c)
		copy(nb[traceRoom:], k.head)
		k.hbuf = nb
	}
	k.hbuf = append(k.hbuf, take...)
	k.head = k.hbuf[traceRoom:]
	if k.hscan.scan(k.head, false) {
		k.cutHead(k.hscan.n)
		k.hdone = true
		if n := len(k.hbuf); cap(k.hbuf) > 2*n+4096 {
			// A short header section read with the body's first
			// piece (up to spool_threshold): keep it, not the piece.
			k.hbuf = append(make([]byte, 0, n), k.hbuf...)
			k.head = k.hbuf[traceRoom:]
		}
		return
	}
	if len(k.head) > k.maxHead {
		k.hdone = true
	}
}

// cutHead keeps the first n bytes of the kept start of the content.
func (k *bodySink) cutHead(n int) {
	k.hbuf = k.hbuf[:traceRoom+n]
	k.head = k.hbuf[traceRoom:]
}

// traceRoom is the room the sink leaves in front of the header section
// it keeps, for the session's Received field (spooledBody.withTrace): a
// trace field that fits is written there instead of copying the header
// section behind it.
const traceRoom = 1024

// headEnd cuts the kept start of the content to its header section once
// the content ended (the last line may lack its CRLF).
func (k *bodySink) headEnd() {
	if !k.hdone || len(k.head) > k.maxHead {
		final := int64(len(k.head)) == k.written
		k.cutHead(headerWindow(k.head, final, k.maxHead))
	}
	k.hdone = true
}

// spooledBody is a body the verb layer wrote to a spool file, handed to
// the session (takeSpooled): the file, complete but not yet durable, the
// header section of its content, and its stats.
type spooledBody struct {
	file  *queue.SpoolFile
	head  []byte // the header section (maxHead+1 bytes when it is longer)
	buf   []byte // traceRoom bytes of room, then head (withTrace)
	stats bodyStats
	size  int64 // the file's length
	sent  int64 // the body as its sender sent it (dot-unstuffed, before normalising)
	// handed: the queue has the file (SubmitBody returned); the
	// session no longer removes it.
	handed bool
	// body: for a check's replacement (Transaction.SpoolBody), the
	// file's content, already durable; head and buf are unused.
	body queue.Body
}

// withHead is the message the queue stores for a check's replacement:
// head (umbra's trace field and the header section) followed by the
// file.
func (sp *spooledBody) withHead(head []byte) queue.Body {
	path, off, n := sp.body.File()
	return queue.SpooledBody(head, path, off, n)
}

// finish ends the body: the content in memory, or the spool file.
func (k *bodySink) finish() (mem []byte, sp *spooledBody, err error) {
	if k.spool == nil {
		if k.err != nil {
			k.dropMem()
			return nil, nil, k.err
		}
		return k.mem, nil, nil // held, and reserved, until releaseBody
	}
	if k.normalize && k.pend {
		k.pend = false
		k.out([]byte("\r\n"))
	}
	k.flush()
	if k.err != nil {
		k.abort()
		return nil, nil, k.err
	}
	k.headEnd()
	sp = &spooledBody{file: k.spool, head: k.head, buf: k.hbuf, stats: k.stats, size: k.spool.Len(), sent: k.n}
	k.spool, k.head, k.hbuf, k.wbuf = nil, nil, nil, nil
	return nil, sp, nil
}

// abort drops the body and removes its spool file, if any.
func (k *bodySink) abort() {
	if k.spool != nil {
		k.spool.Abort()
		k.spool = nil
	}
	k.dropMem()
	k.head, k.hbuf, k.wbuf = nil, nil, nil
}

// withTrace returns trace followed by the header section. A trace that
// fits the room the sink left in front of it is written there: the
// header section, up to max_header_size, is not copied. The spooled body
// no longer holds the header section after it.
func (sp *spooledBody) withTrace(trace string) []byte {
	room := len(sp.buf) - len(sp.head)
	var out []byte
	if len(trace) <= room && len(sp.buf) > 0 {
		out = sp.buf[room-len(trace) : len(sp.buf) : len(sp.buf)]
		copy(out, trace)
	} else {
		out = make([]byte, 0, len(trace)+len(sp.head))
		out = append(append(out, trace...), sp.head...)
	}
	sp.buf, sp.head = nil, nil
	return out
}
