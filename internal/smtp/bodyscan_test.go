package smtp

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// refScanDataEnd is the end-of-data scan as the verb layer ran it before
// scanDataEnd: a state machine stepped on every byte at the start of a
// line, with its own state names. It is the reference FuzzScanDataEnd
// holds scanDataEnd to.
const (
	refBegin = iota // at the start of a line (after CRLF)
	refDot          // "." at the start of a line
	refDotCR        // ".\r" at the start of a line
	refCR           // "\r" seen
	refData         // inside a line
)

func refScanDataEnd(st int, buf []byte) (n int, ended bool, next int) {
	n = len(buf)
scan:
	for i := 0; i < len(buf); i++ {
		c := buf[i]
		switch st {
		case refBegin:
			switch c {
			case '.':
				st = refDot
			case '\r':
				st = refCR
			default:
				st = refData
			}
		case refDot:
			if c == '\r' {
				st = refDotCR
			} else {
				st = refData
			}
		case refDotCR:
			if c == '\n' {
				n, ended = i+1, true
				break scan
			}
			st = refData
			if c == '\r' {
				st = refCR
			}
		case refCR:
			if c == '\n' {
				st = refBegin
			} else if c != '\r' {
				st = refData
			}
		case refData:
			if c == '\r' {
				st = refCR
			} else if j := bytes.IndexByte(buf[i:], '\r'); j < 0 {
				i = len(buf) - 1
			} else {
				i += j - 1 // the loop's i++ lands on the '\r'
			}
		}
	}
	return n, ended, st
}

// refState maps the reference's states to scanDataEnd's.
var refState = map[int]int{refBegin: dBegin, refDot: dDot, refDotCR: dDotCR, refCR: dCR, refData: dData}

// checkScanDataEnd feeds body to both scanners in the pieces cuts says
// (each byte of cuts is a piece's length, 0 meaning the rest), as the
// verb layer does, and fails on the first difference.
func checkScanDataEnd(t *testing.T, body, cuts []byte) {
	t.Helper()
	st, ref := dBegin, refBegin
	for off, k := 0, 0; off < len(body); k++ {
		m := len(body) - off
		if k < len(cuts) && cuts[k] != 0 {
			m = min(m, int(cuts[k]))
		}
		piece := body[off : off+m]
		n, ended, next := scanDataEnd(st, piece)
		rn, rended, rnext := refScanDataEnd(ref, piece)
		if n != rn || ended != rended || (!ended && next != refState[rnext]) {
			t.Fatalf("body %q, piece %q at %d from state %d: got (%d, %v, %d), reference (%d, %v, %d→%d)",
				body, piece, off, st, n, ended, next, rn, rended, rnext, refState[rnext])
		}
		if ended {
			return
		}
		st, ref = next, rnext
		off += m
	}
}

func TestScanDataEnd(t *testing.T) {
	cases := []string{
		".\r\n", "\r\n.\r\n", "a\r\n.\r\n", "a\r\r\n.\r\nb", "a\n.\r\n", "a\r\n.\n.\r\n\r\n.\r\n",
		"..\r\n.\r\n", ".\r.\r\n\r\n.\r\n", "\r\r\r\n.\r\r\n.\r\n", "a\r\n.", "a\r\n.\r", "a\r\n",
		"x\r\n.\r\nQUIT\r\n", "\r\n\r\n\r\n.\r\n", "a.\r\n.\r\n",
	}
	for _, c := range cases {
		for cut := 0; cut <= 6; cut++ {
			checkScanDataEnd(t, []byte(c), bytes.Repeat([]byte{byte(cut)}, len(c)))
		}
	}
	// Long bodies past bytes.Index's switch to its brute-force search.
	long := bytes.Repeat([]byte("\r\n"), 500)
	checkScanDataEnd(t, append(long, ".\r\n"...), nil)
	checkScanDataEnd(t, append(long, ".\r\n"...), []byte{99, 1, 3, 200})
}

// FuzzScanDataEnd: scanDataEnd finds the end of data exactly where the
// byte-by-byte state machine it replaced does, and carries the same
// state between pieces cut anywhere.
func FuzzScanDataEnd(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n"), []byte{3, 1, 1, 2})
	f.Add([]byte("a\r\r\n.\r\n"), []byte{1})
	f.Add([]byte("a\n.\n\r\n.\r\n"), []byte{})
	f.Add([]byte(".\r\n"), []byte{1, 1, 1})
	f.Fuzz(func(t *testing.T, body, cuts []byte) {
		checkScanDataEnd(t, body, cuts)
	})
}

// refFeed is unstuffer.feed as it was before it emitted runs (a call
// per line): the reference FuzzUnstuffRuns holds feed to.
func (u *unstuffer) refFeed(p []byte, emit func([]byte)) {
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
			emit(crByte)
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

// FuzzUnstuffRuns: feed, emitting runs, emits the same bytes as the
// line-by-line feed it replaced and ends at the same place, after every
// piece of a body cut anywhere (no end marker appended: a body may end
// anywhere, or carry bytes after its marker).
func FuzzUnstuffRuns(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "..\r\n.x\r\n", ".\r\n", "a\r\n.\r", "\r\n.\r\r\n", ".\r.\n\r\n..\r\n", "a\n.\r\nb", "a\r\n.\r\nQUIT\r\n"} {
		f.Add([]byte(s), []byte{0, 1, 2})
		f.Add([]byte(s), []byte{1, 1, 1, 1, 1})
	}
	f.Fuzz(func(t *testing.T, raw, cut []byte) {
		var u, r unstuffer
		var got, want []byte
		for _, p := range cuts(raw, cut) {
			u.feed(p, func(q []byte) { got = append(got, q...) })
			r.refFeed(p, func(q []byte) { want = append(want, q...) })
			if !bytes.Equal(got, want) || u.done != r.done {
				t.Fatalf("%q cut %v, after %q: runs %q (done %v), lines %q (done %v)", raw, cut, p, got, u.done, want, r.done)
			}
		}
	})
}

// TestBodySizeHint: MAIL SIZE= sizes the body buffer up to the spool
// threshold (or maxPooledBody), never past what the session would hold.
func TestBodySizeHint(t *testing.T) {
	srv := &Server{spoolThreshold: 256 << 10}
	srv.newSpool = func() (*queue.SpoolFile, error) { return nil, nil }
	s := &session{srv: srv}
	v := &verbConn{sess: func() *session { return s }}
	for _, c := range []struct {
		declared int64
		checks   bool
		want     int
	}{
		{0, false, 0},
		{1000, false, 1000 + 1000/64 + 256},
		{100 << 10, false, 100<<10 + 100<<10/64 + 256},
		{10 << 20, false, 256 << 10},    // spooled past the threshold
		{10 << 20, true, maxPooledBody}, // a check that needs the body in memory
	} {
		s.declaredSize, s.dataChecks = c.declared, c.checks
		if got := v.bodySizeHint(); got != c.want {
			t.Errorf("SIZE=%d checks=%v: hint %d, want %d", c.declared, c.checks, got, c.want)
		}
	}
}

// TestLargeBodiesPooledReaders: bodies past dataWideAfter, read through
// the pooled larger reader into pooled buffers by sessions at once, are
// each stored byte for byte (dot-unstuffed), with and without MAIL
// SIZE=, and commands pipelined behind the end of data (left in the
// larger reader) are framed and answered in order.
func TestLargeBodiesPooledReaders(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `  - name: default
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 4MB}
`)...)
	const sessions, perSession = 6, 3
	want := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < sessions; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			mail := "MAIL FROM:<a@example.org>"
			for m := 0; m < perSession; m++ {
				subject := fmt.Sprintf("s%d-m%d", c, m)
				var msg bytes.Buffer
				fmt.Fprintf(&msg, "Subject: %s\r\n\r\n", subject)
				lines := 200 + (c*perSession+m)*700 // 16 KiB to 1.5 MB
				for i := 0; i < lines; i++ {
					if i%97 == 0 {
						msg.WriteString(".starts with a dot\r\n")
					}
					fmt.Fprintf(&msg, "%s line %d %s\r\n", subject, i, strings.Repeat("x", i%70))
				}
				mu.Lock()
				want[subject] = bytes.Clone(msg.Bytes())
				mu.Unlock()
				if m%2 == 1 {
					mail = fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d", msg.Len())
				}
				d.cmd(mail, "250")
				d.cmd("RCPT TO:<b@example.test>", "250")
				d.cmd("DATA", "354")
				stuffed := AppendDotStuffed(nil, msg.Bytes())
				// The end of data and the next commands in one write.
				d.send(string(stuffed) + "RSET\r\nNOOP\r\n") // stuffed ends with the marker
				d.expect("250")
				d.expect("250") // RSET
				d.expect("250") // NOOP
			}
			d.cmd("QUIT", "221")
		}(c)
	}
	wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.bodies) != sessions*perSession {
		t.Fatalf("%d messages stored, want %d", len(q.bodies), sessions*perSession)
	}
	for _, b := range q.bodies {
		i := bytes.Index(b, []byte("Subject: "))
		if i < 0 {
			t.Fatalf("stored body without its header: %.200q", b)
		}
		subject := string(b[i+len("Subject: ") : i+bytes.IndexByte(b[i:], '\r')])
		if w, ok := want[subject]; !ok || !bytes.Equal(b[i:], w) {
			t.Fatalf("%s: stored %d bytes differ from the %d sent", subject, len(b[i:]), len(w))
		}
		delete(want, subject)
	}
}
