package smtp

import (
	"bytes"
	"unicode"
	"unicode/utf8"

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
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			emit(p[i:])
			u.lastCR = p[len(p)-1] == '\r'
			return
		}
		if j > 0 {
			u.bol = p[i+j-1] == '\r'
		} else {
			u.bol = u.lastCR
		}
		u.lastCR = false
		emit(p[i : i+j+1])
		i += j + 1
	}
}

// bodyStats is what the session checks on a whole body (checkBody),
// counted as it streams by.
type bodyStats struct {
	nul      bool   // a NUL byte
	bare     byte   // the first bare CR or LF ('\r', '\n'), as bareNewline
	lastCR   bool   // the last byte was a CR (its verdict waits for the next)
	nonSpace bool   // a rune that is not white space: not empty (emptyMessage)
	carry    []byte // a UTF-8 sequence cut by the end of the last piece
	n        int64
}

func (s *bodyStats) scan(p []byte) {
	s.n += int64(len(p))
	if !s.nul && bytes.IndexByte(p, 0) >= 0 {
		s.nul = true
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

// headerSectionLen is the length of a message's header section: through
// its first empty line ("\r\n" when the message starts with one), or the
// whole message when it has none — what the header tools (package header,
// orgid, headerValue) read.
func headerSectionLen(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(msg)
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
	stats bodyStats
	head  []byte // the header section of the file's content, as it passes
	hdone bool   // head is complete (its empty line seen, or over maxHead)
	err   error  // the spool file failed
}

func (k *bodySink) write(p []byte) {
	k.n += int64(len(p))
	if k.err != nil {
		return
	}
	if k.spool == nil {
		if k.newSpool == nil || int64(len(k.mem)+len(p)) <= k.threshold {
			k.mem = append(k.mem, p...)
			return
		}
		f, err := k.newSpool()
		if err != nil {
			k.err, k.mem = err, nil
			return
		}
		k.spool, k.wbuf = f, make([]byte, 0, spoolWrite)
		mem := k.mem
		k.mem = nil
		k.pass(mem)
	}
	k.pass(p)
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
		if k.pend {
			k.pend = false
			k.out([]byte("\r\n"))
			if p[i] == '\n' {
				i++
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
		if p[i] == '\r' {
			if i+1 == len(p) {
				k.pend = true // CRLF or a bare CR: the next piece says
				return
			}
			if p[i+1] == '\n' {
				i++
			}
		}
		k.out([]byte("\r\n"))
		i++
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

// keepHead copies the header section of the content as it passes, up to
// maxHead+1 bytes (one more says it is too long).
func (k *bodySink) keepHead(p []byte) {
	if k.hdone {
		return
	}
	from := max(0, len(k.head)-3)
	k.head = append(k.head, p[:min(len(p), k.maxHead+1-len(k.head))]...)
	if bytes.HasPrefix(k.head, []byte("\r\n")) {
		k.head, k.hdone = k.head[:2], true
		return
	}
	if i := bytes.Index(k.head[from:], []byte("\r\n\r\n")); i >= 0 {
		k.head, k.hdone = k.head[:from+i+4], true
		return
	}
	if len(k.head) > k.maxHead {
		k.hdone = true
	}
}

// spooledBody is a body the verb layer wrote to a spool file, handed to
// the session (takeSpooled): the file, complete but not yet durable, the
// header section of its content, and its stats.
type spooledBody struct {
	file  *queue.SpoolFile
	head  []byte // the header section (maxHead+1 bytes when it is longer)
	stats bodyStats
	size  int64 // the file's length
	// handed: the queue has the file (SubmitBody returned); the
	// session no longer removes it.
	handed bool
}

// finish ends the body: the content in memory, or the spool file.
func (k *bodySink) finish() (mem []byte, sp *spooledBody, err error) {
	if k.spool == nil {
		if k.err != nil {
			return nil, nil, k.err
		}
		return k.mem, nil, nil
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
	sp = &spooledBody{file: k.spool, head: k.head, stats: k.stats, size: k.spool.Len()}
	k.spool, k.head, k.wbuf = nil, nil, nil
	return nil, sp, nil
}

// abort drops the body and removes its spool file, if any.
func (k *bodySink) abort() {
	if k.spool != nil {
		k.spool.Abort()
		k.spool = nil
	}
	k.mem, k.head, k.wbuf = nil, nil, nil
}
