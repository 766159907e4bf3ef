package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// secureConnector demands TLS for AUTH (allow_insecure: false) and lets
// only authenticated sessions relay.
func secureConnector(t *testing.T, extra string) (string, []byte) {
	t.Helper()
	cert, key, _ := testCert(t)
	return fmt.Sprintf(`
  - name: secure
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
%s`, cert, key, credsFile(t), extra), nil
}

// A malformed BDAT is refused, and the bytes after it are commands, never
// a chunk: the verb layer and go-smtp once disagreed here, and the AUTH
// that followed ran in cleartext on a connector that forbids it.
func TestMalformedBDATSmugglesNothing(t *testing.T) {
	yaml, _ := secureConnector(t, "")
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, yaml)...)
	auth := authAlice + "\r\n"
	for _, bdat := range []string{
		fmt.Sprintf("BDAT +%d", len(auth)),
		fmt.Sprintf("BDAT %d FOO", len(auth)),
		fmt.Sprintf("BDAT %d LAST X", len(auth)),
		"BDAT 4294967296",
		fmt.Sprintf("BDAT  %d", len(auth)),
		fmt.Sprintf("BDAT %d\tLAST", len(auth)),
		fmt.Sprintf("BDAT 0x%x", len(auth)),
		"BDAT",
	} {
		t.Run(bdat, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.send(bdat + "\r\n" + auth)
			d.expect("501 5.5.4")
			d.expect("503 5.5.1") // the AUTH line is a command, refused (inside a transaction)
			d.cmd("RCPT TO:<x@elsewhere.org>", "550 5.7.1")
			d.cmd("QUIT", "221")
		})
	}
	if q.count() != 0 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// A well-formed BDAT's chunk is data, even when it looks like commands,
// and even when the BDAT itself is refused (no transaction).
func TestBDATChunkIsNeverCommands(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	chunk := "NOOP\r\nRCPT TO:<x@example.test>\r\n"
	d.send(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
	d.expect("503 5.5.1") // no transaction: the chunk is read and dropped
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	c1, c2 := "Subject: c\r\n\r\nMAIL FROM:<e@x>\r\n", "DATA\r\nQUIT\r\n"
	d.send(fmt.Sprintf("BDAT %d\r\n%sBDAT %d LAST\r\n%sNOOP\r\n", len(c1), c1, len(c2), c2))
	d.expect("250 2.0.0")
	d.expect("250 2.0.0 Ok: queued")
	d.expect("250")
	if q.count() != 1 || !strings.HasSuffix(string(q.bodies[0]), c1+c2) || len(q.msgs[0].Rcpts) != 1 {
		t.Fatalf("BDAT body: %q", q.bodies)
	}
	// BDAT during a BDAT transfer orders DATA out; RSET ends the transfer.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 3\r\nabc")
	d.expect("250")
	d.cmd("DATA", "503 5.5.1")
	d.cmd("RSET", "250")
	d.send("BDAT 3 LAST\r\nabc")
	d.expect("503 5.5.1")
	if q.count() != 1 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// A command line without its CRLF is never executed: not when the idle
// timeout fires, not when the client closes its side.
func TestPartialLineNeverExecuted(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 1s}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("MAIL FROM:<a@example.org>")
	d.expect("421 4.4.2") // the timeout, not a 250
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("after the timeout: %q", got)
	}

	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("NOOP")
	d.conn.(*net.TCPConn).CloseWrite()
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("a partial line at EOF was executed: %q", got)
	}
}

// A command line ending in a bare LF is refused, and what follows it is
// never a BDAT chunk.
func TestBareLFCommandRefused(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	// A line is everything up to CRLF: one with a bare LF is refused
	// whole, and nothing after the bare LF runs (a bare CR likewise).
	d.send("NOOP\nMAIL FROM:<lf@evil.test>\r\nRCPT TO:<b@example.test>\r\n")
	d.expect("500 5.5.2")
	d.expect("503 5.5.1") // RCPT without MAIL: the MAIL never ran
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 6 LAST\nNOOP\r\n")
	d.expect("500 5.5.2") // one refused line, never a chunk
	d.cmd("NOOP", "250")
	d.send("NOOP\r\rRSET\r\n")
	d.expect("500 5.5.2") // a bare CR inside a command line
	d.cmd("NOOP", "250")

	if q.count() != 0 {
		t.Fatalf("%d messages queued", q.count())
	}
}

// STARTTLS discards the transaction and the greeting (RFC 3207 §4.2):
// nothing but a new EHLO (or HELO, RSET, NOOP, QUIT) is taken before the
// client greets again, and no message without recipients is queued.
func TestSTARTTLSDiscardsState(t *testing.T) {
	cert, key, pool := testCert(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, fmt.Sprintf(`
  - name: tls
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, cert, key))...)
	d := dial(t, s, "")
	d.expect("220")
	if got := d.cmd("EHLO", "501 5.5.2"); !strings.Contains(got, "for EHLO") { // not "for HELO" (rt22)
		t.Errorf("EHLO without a domain: %q", got)
	}
	if got := d.cmd("HELO", "501 5.5.2"); !strings.Contains(got, "for HELO") {
		t.Errorf("HELO without a domain: %q", got)
	}
	if got := d.cmd("NOOP", "250"); strings.Contains(got, "STARTTLS") {
		t.Fatalf("a refused EHLO's keywords went to the next reply: %q", got)
	}
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.startTLS(pool)
	d.cmd("DATA", "503 5.5.1")
	d.send("BDAT 2 LAST\r\nhi")
	d.expect("503 5.5.1")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1")
	d.cmd("RCPT TO:<b@example.test>", "503 5.5.1")
	d.cmd("NOOP", "250")
	d.cmd("EHLO c", "250")
	d.cmd("DATA", "503 5.5.1") // the transaction is gone
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: t\r\n\r\nhi\r\n.", "250")
	if q.count() != 1 || len(q.msgs[0].Rcpts) != 1 || q.msgs[0].From != "a@example.org" {
		t.Fatalf("queued: %d", q.count())
	}
}

// Bare CR is refused like bare LF, in DATA and in BDAT: "\r.\r" ends DATA
// at some next hops (SMTP smuggling).
func TestBareCRRefused(t *testing.T) {
	for name, body := range map[string]string{
		"CR.CR":     "Subject: x\r\n\r\nhi\r.\rMAIL FROM:<evil@example.org>\r\n",
		"CR.CRLF":   "Subject: x\r\n\r\nhi\r.\r\nMAIL FROM:<evil@example.org>\r\n",
		"lone CR":   "Subject: x\r\n\r\nline\rmore\r\n",
		"CR at end": "Subject: x\r\n\r\nline\r",
	} {
		t.Run(name, func(t *testing.T) {
			q := &fakeQueue{}
			s := startServer(t, q, connectors(t, anon)...)
			d := dial(t, s, "")
			d.expect("220")
			d.openData()
			d.cmd(body+"\r\n.", "554 5.6.0")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
			d.expect("554 5.6.0")
			d.cmd("NOOP", "250")
			if q.count() != 0 {
				t.Fatal("queued anyway")
			}
		})
	}
}

// With bare_newlines: normalize, bare CR and bare LF become CRLF.
func TestBareNewlinesNormalised(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    bare_newlines: normalize
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.cmd("Subject: x\r\n\r\na\rb\nc\r.\r\n.", "250")
	body := "Subject: y\r\n\r\nd\re\n"
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
	d.expect("250")
	if q.count() != 2 {
		t.Fatalf("%d queued", q.count())
	}
	// The dot starting the line a bare CR began is transparency, as
	// after a CRLF (TestNormalisedDotLinesConsistent).
	if got := string(q.bodies[0]); !strings.HasSuffix(got, "\r\n\r\na\r\nb\r\nc\r\n\r\n") {
		t.Errorf("DATA body: %q", got)
	}
	if got := string(q.bodies[1]); !strings.HasSuffix(got, "\r\n\r\nd\r\ne\r\n") {
		t.Errorf("BDAT body: %q", got)
	}
}

// Commands outside a mail transaction are bounded; past the limit the
// session ends with 421 4.7.0.
func TestJunkCommandLimit(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 10}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.send("EHLO c\r\n" + strings.Repeat("NOOP\r\n", 30))
	d.expect("250")
	for i := 0; i < 9; i++ {
		d.expect("250")
	}
	d.expect("421 4.7.0")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on after the junk limit: %q", got)
	}

	// A completed transaction resets the count.
	d = dial(t, s, "")
	d.expect("220")
	for i := 0; i < 4; i++ {
		d.cmd("EHLO c", "250")
		d.cmd("NOOP", "250")
		d.cmd("RSET", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: j\r\n\r\nhi\r\n.", "250")
	}
}

// Authenticated transport servers (kept-open shadow sessions) are exempt
// from the junk limit.
func TestJunkLimitExemptsTransportServers(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, "    limits: {max_junk_commands: 5}\n"))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	for i := 0; i < 20; i++ {
		d.cmd("XQUERYDISCARD 10", "250 2.0.0 0 discard")
		d.cmd("NOOP", "250")
	}
}

// Errors are bounded: past max_errors since the last accepted message
// the session ends with 421 4.7.0.
func TestErrorLimit(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 5, max_recipients: 100}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	// A delivered message starts the count afresh.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for i := 0; i < 4; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<x%d@elsewhere.org>", i), "550 5.7.1")
	}
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: e\r\n\r\nhi\r\n.", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	for i := 0; i < 4; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<x%d@elsewhere.org>", i), "550 5.7.1")
	}
	d.send("RCPT TO:<y@elsewhere.org>\r\nNOOP\r\n")
	d.expect("550 5.7.1")
	d.expect("421 4.7.0")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on after the error limit: %q", got)
	}
}

// bdatRef is RFC 3030's BDAT command line, as a regular expression.
var bdatRef = regexp.MustCompile(`(?i)^BDAT ([0-9]+)( LAST)?[ \t]*\r\n$`)

// referenceFrame is a small, independent framer of a client's byte
// stream: lines end at CRLF, and only there (a line with a bare CR or LF
// is refused whole, so is a command line with a NUL — a SASL response
// with one is a response —, a
// line over maxLine — over 12288 octets for an AUTH line or a SASL
// response — ends the session, a partial line is nothing); a
// well-formed BDAT is followed by its chunk; a DATA answered with 354 by
// its body up to CRLF "." CRLF; a line answered with 334 by a SASL
// response line. answer(k) says how the server answered the k-th line
// ('S' for 354, 'A' for 334): that is the server's decision, not framing.
func referenceFrame(in []byte, maxLine int, answer func(k int) byte) []string {
	var ev []string
	k, sasl := 0, false
	for {
		i := bytes.Index(in, []byte("\r\n")) + 1 // the line's LF
		limit := maxLine
		if sasl || len(in) > 5 && bytes.EqualFold(in[:5], []byte("AUTH ")) {
			limit = max(maxLine, 12288) // RFC 4954 §4
		}
		if i <= 0 || i+1 > limit {
			if i+1 > limit || len(in) > limit {
				ev = append(ev, "T")
			}
			return ev
		}
		line := in[:i+1]
		in = in[i+1:]
		if bytes.ContainsAny(line[:i-1], "\r\n") || !sasl && bytes.IndexByte(line, 0) >= 0 {
			ev = append(ev, "X"+string(line))
			continue
		}
		ev = append(ev, "L"+string(line))
		a := answer(k)
		k++
		if sasl {
			sasl = a == 'A'
			continue
		}
		if m := bdatRef.FindSubmatch(line); m != nil {
			if size, err := strconv.ParseUint(string(m[1]), 10, 32); err == nil {
				if uint64(len(in)) < size {
					return ev
				}
				ev = append(ev, "B"+string(in[:size]))
				in = in[size:]
				continue
			}
		}
		switch a {
		case 'A':
			sasl = true
		case 'S':
			j := bytes.Index(append([]byte("\r\n"), in...), []byte("\r\n.\r\n"))
			if j < 0 {
				return ev
			}
			ev = append(ev, "D"+string(in[:j+3]))
			in = in[j+3:]
		}
	}
}

// frameRecorder collects what a connection's verb layer framed.
type frameRecorder struct {
	mu     sync.Mutex
	units  []string // L, X, D, B units and T (line too long)
	answer map[int]byte
	lines  int    // L units so far
	body   []byte // the DATA body being read
	last   string // the last L line
	eof    bool   // the layer read the client's stream to its end
	bad    string // a violation of "go-smtp gets only framed lines"
	given  []byte // what go-smtp read of a line so far
}

func (r *frameRecorder) record(kind byte, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case traceLine:
		r.units = append(r.units, "L"+string(b))
		r.last = string(b)
		r.lines++
	case traceRefused:
		r.units = append(r.units, "X"+string(b))
	case traceChunk:
		r.units = append(r.units, "B"+string(b))
	case traceBody:
		if b == nil {
			r.units = append(r.units, "D"+string(r.body))
			r.body = nil
		} else {
			r.body = append(r.body, b...)
		}
	case trace354, trace334:
		if r.answer == nil {
			r.answer = map[int]byte{}
		}
		r.answer[r.lines-1] = kind
	case traceGoSMTP:
		// go-smtp reads a line longer than its buffer (an AUTH line
		// or SASL response up to 12288 octets) in pieces: the pieces
		// of one framed line are checked together.
		r.given = append(r.given, b...)
		if b[len(b)-1] != '\n' {
			return
		}
		b, r.given = r.given, nil
		switch s := string(b); {
		case r.bad != "":
		case !crlfOnly(b):
			r.bad = fmt.Sprintf("go-smtp was given %q", s)
		case s != r.last && s != string(trimTrailingBlanks([]byte(r.last))) && s != "DATA\r\n" && s != "RSET\r\n" && s != ".\r\n" && s != "*\r\n":
			// DATA, RSET and "." the layer makes up for BDAT; "*" cancels
			// an AUTH exchange whose response is not base64 (authpolicy.go).
			// A command's trailing spaces and tabs are dropped (RFC 5321 §4.1.1).
			r.bad = fmt.Sprintf("go-smtp was given %q, not the framed line %q", s, r.last)
		}
	case traceEOF:
		r.eof = true
	case traceClosed:
		if string(b) == replyLineTooLong {
			r.units = append(r.units, "T")
		}
	}
}

const framingConnector = `
  - name: fuzz
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN, LOGIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
    limits: {max_line_length: 1000, max_message_size: 3000, soft_error_limit: 1000}
`

// FuzzFraming: any client byte stream, through the whole receive stack
// (verb layer and go-smtp), is framed exactly as the reference framer
// frames it, and go-smtp is only ever given complete CRLF lines the
// layer framed (or the layer's own DATA, RSET and end of body).
func FuzzFraming(f *testing.F) { fuzzFraming(f) }

// FuzzFramingWide is FuzzFraming with every DATA body read through the
// larger pooled reader from its first byte (bodyscan.go), so that the
// small inputs of a fuzz run cross its hand-overs.
func FuzzFramingWide(f *testing.F) {
	old := dataWideAfter
	dataWideAfter = 0
	f.Cleanup(func() { dataWideAfter = old })
	fuzzFraming(f)
}

func fuzzFraming(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nhi\r\n..x\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@example.test>\r\nBDAT +33\r\n" + authAlice + "\r\nNOOP\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@example.test>\r\nBDAT 5\r\nNOOP\r\nBDAT 3 LAST\r\nabcRSET\r\n",
		"EHLO x\r\nBDAT 4294967296\r\nBDAT 41 LAST X\r\nBDAT 6\r\nNOOP\r\n",
		"EHLO x\r\nAUTH LOGIN\r\nBDAT 5\r\nc2VjcmV0\r\nNOOP\r\n",
		"EHLO x\r\nNOOP\nRSET\r\rNOOP\r\nMAIL FROM:<a@b.c>",
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nx\r\r\n.\r\nNOOP\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n.\r.\r\n\n.\n\r\n.\r\nNOOP\r\n",
		"STARTTLSX\r\nDATAX\r\nBDAT\r\nbdat 2 last\r\nhiEHLO " + strings.Repeat("y", 1200) + "\r\n",
		// AUTH lines and SASL responses to 12288 octets, no other
		// command past max_line_length (RFC 4954 §4); NUL lines.
		"EHLO x\r\nauth PLAIN " + strings.Repeat("QUFB", 1500) + "\r\nNOOP\r\nAUTH PLAIN\r\n" + strings.Repeat("QUFB", 3000) + "\r\nNOOP\r\n",
		"EHLO x\r\nAUTH LOGIN\r\n" + strings.Repeat("QUFB", 3072) + "\r\nNOOP\r\n",
		"EHLO x\r\nAUTHX " + strings.Repeat("y", 1200) + "\r\nNOOP\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.c>\x00 SIZE=1\r\nAUTH LOGIN\r\nYW\x00xpY2U=\r\nNOOP\x00\r\nQUIT\r\n",
	} {
		f.Add([]byte(seed))
	}
	var once sync.Once
	var srv *Server
	recs := make(chan *frameRecorder, 1)
	var next atomic.Uint32
	f.Fuzz(func(t *testing.T, data []byte) {
		once.Do(func() {
			s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, fmt.Sprintf(framingConnector, credsFile(t))),
				Routing: testTable(), Queue: &fakeQueue{}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Listen(); err != nil {
				t.Fatal(err)
			}
			for _, b := range s.bindings {
				b.trace = func() func(byte, []byte) {
					r := &frameRecorder{}
					recs <- r
					return r.record
				}
			}
			s.Serve()
			srv = s
		})
		// A fuzz run opens many connections: spread them over source
		// addresses, so that TIME_WAIT never runs out of ports.
		n := next.Add(1)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(3+n/250%200), byte(1+n%250))}}
		c, err := d.Dial("tcp", srv.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		rec := <-recs
		go func() {
			c.Write(data)
			c.(*net.TCPConn).CloseWrite()
		}()
		// The server closing with input unread resets the connection.
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("session did not end: %v", err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.bad != "" {
			t.Fatal(rec.bad)
		}
		want := referenceFrame(data, 1000, func(k int) byte { return rec.answer[k] })
		got := rec.units
		if rec.eof && len(got) != len(want) || len(got) > len(want) {
			t.Fatalf("input %q\nframed    %q\nreference %q", data, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("input %q\nunit %d: framed %q, reference %q\nframed    %q\nreference %q", data, i, got[i], want[i], got, want)
			}
		}
	})
}

// BenchmarkReceiveBody: one message per iteration over a kept-open
// session, by DATA and by BDAT (in 64 KiB chunks), through the whole
// receive stack. BDAT must not be slower than DATA.
func BenchmarkReceiveBody(b *testing.B) {
	cfg, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: bench
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 64MiB}
`), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{100 << 10, 4 << 20} {
		var msg bytes.Buffer
		msg.WriteString("Subject: bench\r\n\r\n")
		for msg.Len() < size {
			msg.WriteString(strings.Repeat("x", 76) + "\r\n")
		}
		body := msg.Bytes()
		for _, mode := range []string{"DATA", "BDAT"} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: cfg.ReceiveConnectors, Routing: testTable(), Queue: &discardQueue{}})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Listen(); err != nil {
					b.Fatal(err)
				}
				s.Serve()
				defer func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) }()
				c, err := net.Dial("tcp", s.Addrs()[0].String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				r := bufio.NewReader(c)
				reply := func(want string) {
					for {
						line, err := r.ReadString('\n')
						if err != nil || !strings.HasPrefix(line, want) {
							b.Fatalf("reply %q (%v), want %s", line, err, want)
						}
						if line[3] == ' ' {
							return
						}
					}
				}
				reply("220")
				fmt.Fprintf(c, "EHLO bench\r\n")
				reply("250")
				var wire []byte
				if mode == "DATA" {
					wire = append([]byte("DATA\r\n"), AppendDotStuffed(nil, body)...)
				} else {
					for rest := body; len(rest) > 0; {
						n := min(len(rest), 64<<10)
						last := ""
						if n == len(rest) {
							last = " LAST"
						}
						wire = append(fmt.Appendf(wire, "BDAT %d%s\r\n", n, last), rest[:n]...)
						rest = rest[n:]
					}
				}
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := c.Write(append([]byte("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"), wire...)); err != nil {
						b.Fatal(err)
					}
					reply("250")
					reply("250")
					if mode == "DATA" {
						reply("354")
						reply("250")
					} else {
						for j := 0; j < (len(body)+(64<<10)-1)/(64<<10); j++ {
							reply("250")
						}
					}
				}
			})
		}
	}
}

// discardQueue accepts every message and keeps none (benchmarks).
type discardQueue struct{ fakeQueue }

func (q *discardQueue) Submit(context.Context, *queue.Message, []byte) error { return nil }

// A body must keep up min_data_rate after idle_timeout of grace: a
// trickle is cut off (421 4.4.2), a slow but steady sender is not, even
// past the idle timeout.
func TestMinDataRate(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 1s, min_data_rate: 4000}
`)...)
	// 800 bytes every 100 ms (8000 B/s, twice the minimum) for 1.5 s:
	// kept. At exactly the minimum (400 bytes) each sleep's overrun on a
	// loaded machine took from the 1 s of grace until the steady sender
	// was cut; at twice it, each sleep would have to overrun by 100 ms.
	d := dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send("Subject: steady\r\n\r\n")
	for i := 0; i < 15; i++ {
		d.send(strings.Repeat("s", 798) + "\r\n")
		time.Sleep(100 * time.Millisecond)
	}
	d.cmd(".", "250")

	// 10 bytes every 100 ms: cut off once the grace is spent.
	d = dial(t, s, "")
	d.expect("220")
	d.openData()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 100; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			d.send("trickle..")
		}
	}()
	d.expect("421 4.4.2")
	if q.count() != 1 {
		t.Fatalf("%d queued", q.count())
	}
}

// go-smtp cannot forget a completed AUTH, so STARTTLS after AUTH is
// refused rather than leaving a session that can never authenticate
// again; the authentication stands.
func TestSTARTTLSAfterAUTHRefused(t *testing.T) {
	cert, key, _ := testCert(t)
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: tls
    bindings: ["127.0.0.1:0"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {authenticated: [submit, relay]}
`, cert, key, credsFile(t)))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authAlice, "235")
	d.cmd("STARTTLS", "503 5.5.1")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
}

// The client's own verbs never put a CR or LF on the wire: a server id or
// shadow id that holds one cannot smuggle a second command.
func TestClientVerbsNeverSplitLines(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	nc, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(contextBackground(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2\r\nRSET"); err == nil {
		t.Fatal("a server id with CRLF was sent")
	}
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	c.SetShadowID("m1\r\nRCPT TO:<evil@elsewhere.org>")
	if err := c.SendMail("a@example.org", []string{"b@elsewhere.org"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("out of step: %v", err)
	}
	if q.count() != 1 || q.msgs[0].ShadowID != "" || len(q.msgs[0].Rcpts) != 1 {
		t.Fatalf("queued: %+v", q.msgs)
	}
}

// BDAT keeps DATA's size rule (more than max_message_size is refused); a
// refused chunk is read and dropped, and the transaction is over. A DATA
// body line over the line length limit is refused and the session goes on.
func TestBDATSizeAndLongDataLine(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...) // max_message_size: 2000
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, tc := range []struct {
		sizes []int
		want  []string
	}{
		{[]int{1000, 999}, []string{"250 2.0.0 1000", "250 2.0.0 Ok: queued"}},
		{[]int{1000, 1001}, []string{"250 2.0.0 1000", "552 5.3.4"}},
		{[]int{5000}, []string{"552 5.3.4"}},
	} {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		for i, n := range tc.sizes {
			last := ""
			if i == len(tc.sizes)-1 {
				last = " LAST"
			}
			d.send(fmt.Sprintf("BDAT %d%s\r\n%s", n, last, strings.Repeat("b", n)))
			d.expect(tc.want[i])
		}
		d.send("BDAT 3 LAST\r\nabc") // the transaction is over either way
		d.expect("503 5.5.1")
	}
	d.openData()
	d.cmd("Subject: long\r\n\r\n"+strings.Repeat("l", 2100)+"\r\n.", "554 5.6.0")
	d.cmd("NOOP", "250")
	if q.count() != 1 {
		t.Fatalf("%d queued", q.count())
	}
}

// Past soft_error_limit errors, the next command is read only after
// error_delay (on the server's clock), once per error.
func TestSoftErrorLimitDelays(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	conns := connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {soft_error_limit: 2, error_delay: 5s, max_errors: 10}
`)
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<x1@elsewhere.org>", "550")
	d.cmd("RCPT TO:<x2@elsewhere.org>", "550") // the soft limit: no delay yet
	d.cmd("NOOP", "250")
	d.cmd("RCPT TO:<x3@elsewhere.org>", "550") // past it
	d.send("NOOP\r\n")
	for i := 0; clk.Pending() == 0; i++ {
		if i > 500 {
			t.Fatal("the server does not wait after an error past the soft limit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	clk.Advance(5 * time.Second)
	d.expect("250")
	d.cmd("NOOP", "250") // no new error: no new wait
}

// bareNewline finds exactly the bytes a plain scan finds.
func FuzzBareNewline(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "a\rb\r\n", "a\nb", "\r", "\n", "\r\r\n", "x\r\n\n", "ab\r\ncd\re"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want byte
		for i, c := range b {
			if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') || c == '\n' && (i == 0 || b[i-1] != '\r') {
				want = c
				break
			}
		}
		if got := bareNewline(b); got != want {
			t.Fatalf("%q: got %q, want %q", b, got, want)
		}
		if n := normalizeNewlines(nil, b, false); bareNewline(n) != 0 || want == 0 && !bytes.Equal(n, b) {
			t.Fatalf("%q normalised to %q", b, n)
		}
	})
}

// SMTP-3: the line length limit counts a line as sent, after the
// transparency dot is taken off (RFC 5321 4.5.2): a DATA line that
// begins with "." is one octet longer on the wire than the line it
// carries, and BDAT, which carries it unstuffed, takes the same line.
// A line of exactly the limit that begins with "." is accepted by both;
// one octet more is refused by both.
func TestSMTP3StuffedDotNotCountedInLineLength(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_line_length: 1000}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	atLimit := "." + strings.Repeat("a", 997) + "\r\n" // 1000 octets with its CRLF
	over := "." + strings.Repeat("a", 998) + "\r\n"
	for _, tc := range []struct {
		line, want string
	}{{atLimit, "250"}, {over, "554 5.6.0"}} {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: dot\r\n\r\n."+tc.line+".", tc.want) // stuffed on the wire
		body := "Subject: dot\r\n\r\n" + tc.line
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
		d.expect(tc.want)
	}
	if q.count() != 2 {
		t.Fatalf("%d queued, want the two messages whose line was at the limit", q.count())
	}
}
