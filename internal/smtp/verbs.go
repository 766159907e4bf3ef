package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// ShadowVerbs answers umbra's shadow verbs (SPEC §2a) for the shadow
// redundancy manager. Rights are checked by the session before any call.
type ShadowVerbs interface {
	// DatabaseID is this server's transport database id (W-2).
	DatabaseID() string
	// Discards returns up to max discard notifications held for
	// serverID. ack is called once the peer provably has them — the reply
	// carrying them was written and the peer's next command arrived
	// (discardack.go); only then may they be forgotten (W-4, SR-15).
	Discards(serverID string, max int) (ids []string, ack func())
}

// maxServerID bounds XSHADOW's argument (W-2); shadowid.MaxLen bounds
// the XSHADOW= MAIL parameter (W-3).
const maxServerID = 255

// verbConn sits between an accepted connection and go-smtp. go-smtp has
// no hook for extra verbs or EHLO keywords, so this layer reads the
// command stream itself and hands go-smtp one vetted line at a time. It
// is the one framing authority of the session (framing.go): it alone
// decides where a command line, a DATA body or a BDAT chunk ends, and:
//   - refuses command lines with a bare CR or LF, never executes a line
//     without its CRLF, and ends sessions over the junk, error and recipient
//     limits;
//   - terminates STARTTLS itself (go-smtp would hide the plaintext below
//     it), refuses AUTH before TLS where the connector demands it, and
//     after STARTTLS takes nothing but a new greeting (RFC 3207 §4.2);
//   - answers XSHADOW, XQUERYDISCARD and XQDISCARD itself — go-smtp is idle
//     between commands, so replies never interleave;
//   - strips the XSHADOW= MAIL parameter before go-smtp sees it;
//   - adds STARTTLS and XSHADOW to go-smtp's EHLO reply (and removes AUTH
//     where it may not be offered yet), and REQUIRETLS once TLS is on
//     (go-smtp cannot see the layer's TLS; RFC 8689);
//   - reads DATA bodies: after a 354 to DATA it reads the body up to the
//     lone dot, unstuffs it in runs (go-smtp's reader goes byte by byte,
//     a third of the CPU of a large message) and gives go-smtp an empty
//     body; the session takes the real one, or the reason it is refused
//     (too big, a line too long), with takeBody;
//   - answers BDAT wholly: it reads the chunks and hands the assembled
//     body to the session through the same path as DATA.
type verbConn struct {
	tc *trackedConn // the accepted connection, below TLS

	// dropReplies: nothing the session writes from now on is written —
	// a MAIL refused for the drain whose 421 the drain writes itself
	// (trackedConn.claimLast), then closes the connection; a command
	// pipelined after the MAIL gets no reply in the MAIL's place
	// before that 421 (rr rrmix39).
	dropReplies atomic.Bool

	mu sync.Mutex // guards writes to conn
	// quitAnswered: a QUIT's 221 was written (guarded by mu): the
	// session ended as the client asked, not by a dropped connection.
	quitAnswered bool
	conn         net.Conn // tc, or a TLS connection over it
	r            *bufio.Reader
	cmdR         *bufio.Reader // while dataR is r: the command reader (bodyscan.go)
	dataR        *bufio.Reader // the larger reader of a body, from its pool
	tlsCfg       *tls.Config
	// insecureAuth offers AUTH before STARTTLS (connector allow_insecure).
	// authMechs are the mechanisms the connector offers (after TLS,
	// unless insecureAuth): one outside them is 504 5.5.4 before TLS
	// too (framing.go). Both as the connection was opened: once a
	// session exists, authOffer reads the connector in force.
	insecureAuth bool
	authMechs    []string
	// noShadow reports whether the connector offers the shadow verbs to
	// nobody (nil: it may): the answer before a session exists
	// (shadowOff).
	noShadow func() bool
	// inForce is the connection's connector as the configuration in
	// force has it (nil func or result: the one it began on): the limits
	// a reload changed apply from the next command (followLimits).
	inForce     func() *connector
	maxLine     int
	maxSize     int64         // the connector's max_message_size (go-smtp's MaxMessageBytes), as followSizeLimit last set it
	ownMaxSize  int64         // max_message_size as the connection was opened (0: none)
	limit       int64         // the size limit of the body being read (sizeLimit at its start)
	idle        time.Duration // read deadline of each line and body piece
	maxJunk     int           // commands outside a transaction (0: no limit)
	maxErrors   int           // error replies per session (0: no limit)
	minRate     int64         // bytes per second a body must keep up, after idle
	softErrors  int           // past this many errors, each reply waits errorDelay
	errorDelay  time.Duration
	clk         clock.Clock
	wallRate    rateBudget    // the body's min_data_rate deadline, wall clock (the read deadline)
	clkRate     rateBudget    // the same on the session clock (checked as data arrives)
	lastRead    time.Time     // wall clock: the body's last read
	inChunk     bool          // a BDAT chunk is being read
	maxTxn      time.Duration // max_transaction_time (0: no limit)
	maxData     time.Duration // max_data_time: a body's whole transfer (0: no limit)
	bodyClk     time.Time     // session clock: the body's transfer began (startRate)
	bodyWall    time.Time     // the same on the wall clock (the read deadline)
	txnStart    time.Time     // session clock: the MAIL of the open transaction (transactionTooLong)
	mailAt      time.Time     // session clock: the last MAIL read outside a transaction
	banner      string        // the connector's greeting text after "220 " ("": go-smtp's)
	greetSeen   bool          // the greeting was written
	rcptAsGiven string        // "<postmaster>" as the client wrote it, for go-smtp's reply to RCPT

	// writeWait is idle_timeout in nanoseconds (takeLimits), read by
	// replyWait from any goroutine.
	writeWait atomic.Int64

	tlsOn atomic.Bool
	// handshaking: a STARTTLS handshake is under way (guarded by mu).
	// startTLS does not hold mu across it, so a writer from another
	// goroutine (sayLast) never waits for the handshake's timeout; it
	// finds handshaking set and writes nothing, since nothing can be
	// said in plain text inside a handshake.
	handshaking bool
	// certNames are the names in a client certificate the connector's
	// organisation CA verified: the client is then that transport server.
	certNames []string
	// certChain: the certificates the client presented (leaf first)
	// when they verified; certNamesNow judges them again by the client
	// CA in force.
	certChain  []*x509.Certificate
	pending    []byte // one vetted line waiting for go-smtp's Read
	handBuf    []byte // pending's buffer, kept for the next line (hand)
	mode       int
	dstate     int          // where DATA's end-of-data scan stands (modeData)
	rawLen     int64        // the DATA body's bytes so far, as received
	lineLen    int          // bytes of the body since its last LF
	lineDot    bool         // the DATA line being counted began with "." (its transparency dot, not counted)
	unst       unstuffer    // the DATA body's dot-unstuffing (spoolbody.go)
	sink       bodySink     // the body being kept: in memory, past the threshold in a spool file
	bodyOver   bool         // the unstuffed DATA body reached max_message_size (read on, keeping nothing)
	body       []byte       // the unstuffed body of the DATA just ended, for takeBody
	spooled    *spooledBody // or the spool file it went to (takeSpooled)
	spoolErr   error        // why the spool file failed, for the session's log
	bodyErr    *gosmtp.SMTPError
	hasBody    bool
	bodyDotted bool   // the kept body came by DATA (normalizeNewlines: transparency)
	last       string // verb of the last command handed to go-smtp
	// lastParams: the parameters of the last MAIL or RCPT line handed
	// to go-smtp, for the reply that refuses one of their values
	// (paramValueReply).
	lastParams []mailParam
	// mailUTF8: the last MAIL said SMTPUTF8, so its reply — a refusal
	// too — may echo the path in UTF-8 (utf8Transaction).
	mailUTF8   bool
	ehlo       bool   // go-smtp is writing an EHLO reply
	saslCancel string // the reply for go-smtp's 501 to the "*" that replaced a bad SASL response
	// goAuthed: go-smtp completed an AUTH on this connection (its 235),
	// which it keeps for the connection's life; an AUTH after a
	// revocation is then the layer's own (authAgain).
	goAuthed   bool
	againSASL  sasl.Server // the layer's own AUTH exchange under way (authAgain), nil when none
	sess       func() *session
	command    func(cmd string, code int) // counts a reply (cmdcount.go); nil: not counted
	acks       []discardAck               // discard notifications waiting for the peer's next command (SR-15)
	held       []byte                     // 250s to pipelined MAIL and RCPT not yet written (replyhold.go; under mu)
	heldCounts []heldCount                // their counts, made once written (cmdcount.go; under mu)

	greeted     bool   // go-smtp took an EHLO or HELO since the start or STARTTLS
	helloOnly   bool   // the greeting go-smtp took last was HELO: no ESMTP parameters
	sasl        bool   // go-smtp asked for a SASL response (334)
	bdat        bool   // a BDAT transfer is open
	bdatLen     int64  // its chunks' bytes so far (kept in sink)
	scratch     []byte // for discarded chunks
	synthData   bool   // go-smtp's next 354 answers the DATA made for BDAT LAST
	swallow     int    // go-smtp's replies to drop (commands the layer made up)
	result      bool   // the next final reply ends a message
	junk        int    // commands outside a transaction since the last message
	partialLine bool   // the read that failed had taken part of a command line (timeoutReply)
	errors      int    // error replies so far
	surplus     int    // 452 4.5.3 replies to recipients over max_recipients since the last message (rcptOvershootLimit)
	delayed     int    // the error count the last error delay was for
	closed      bool   // the layer ended the session
	gone        bool   // the client's stream ended (or broke): no reply reaches it
	due         string // the counted command whose reply is due (cmdcount.go)

	// refusedClient: a connection check refused the client at its
	// greeting; the reply every later command but QUIT gets ("": none).
	refusedClient string

	// bdatErr: the open BDAT transfer is refused at LAST (a line too
	// long); its chunks are read and dropped.
	bdatErr *gosmtp.SMTPError

	trace func(kind byte, b []byte) // tests: every unit framed, in order
}

const (
	modeCommand = iota
	modeData
)

func newVerbConn(tc *trackedConn, tlsCfg *tls.Config, rc *config.ReceiveConnector, clk clock.Clock) *verbConn {
	l := rc.Limits
	v := &verbConn{tc: tc, conn: tc, tlsCfg: tlsCfg, insecureAuth: rc.Auth.AllowInsecure,
		maxLine: l.MaxLineLength, maxSize: int64(l.MaxMessageSize), clk: clk, banner: rc.Banner}
	v.takeLimits(l)
	if v.maxLine <= 0 {
		v.maxLine = config.DefaultMaxLineLength
	}
	v.authMechs = rc.Auth.Mechanisms
	v.ownMaxSize = v.maxSize
	v.sess = func() *session { return tc.sess.Load() }
	v.r = bufio.NewReaderSize(heldFirst{v, tc}, 4096) // replyhold.go
	tc.vc = v
	return v
}

// Read hands go-smtp the next vetted bytes. Once the session has ended
// — the layer ended it (hangUp), go-smtp closed it (its QUIT, the 421 of
// a recovered panic), a reply that ends it was written (a check's or
// AUTH's 421, trackedConn.hangUp), a drain or stop wrote its 421
// (sayLast) — go-smtp gets the end of the stream and nothing more:
// what the client pipelined behind, already in the layer's buffer, is
// dropped, never framed, so no command runs after the reply that ended
// the session (go-smtp's session is gone after its QUIT: a MAIL there
// panicked in go-smtp, rt26b F1) and no message pipelined behind a 421
// is taken. A unit already begun (a line longer than go-smtp's read) is
// handed whole; the check is at each new unit, before and after it is
// framed.
func (v *verbConn) Read(b []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = v.panicked(r)
		}
	}()
	for len(v.pending) == 0 {
		if v.ended() {
			return v.endStream()
		}
		if err := v.fill(); err != nil {
			v.traceUnit(traceEnded, nil)
			return 0, err
		}
		if len(v.pending) > 0 && v.ended() {
			// Framed while the session ended (a drain's 421 written from
			// another goroutine meanwhile): not handed.
			v.pending = nil
			return v.endStream()
		}
	}
	n = copy(b, v.pending)
	v.traceUnit(traceGoSMTP, v.pending[:n])
	v.pending = v.pending[n:]
	return n, nil
}

// panicked ends the session after a panic in what the layer runs
// itself (framing, the shadow verbs, STARTTLS): Read is called from
// go-smtp's connection loop, outside the recover go-smtp puts around a
// command, so such a panic ended the daemon, every session and delivery
// with it. The session ends as one whose command panicked in go-smtp
// does: 421 4.0.0, the end of the stream, counted and logged at most
// once a minute (paniclog.go); a body the layer held is dropped with
// its spool file.
func (v *verbConn) panicked(r any) (int, error) {
	stack := debug.Stack()
	if c := v.connector(); c != nil && c.panics != nil {
		l := v.logger()
		if l == nil {
			l = c.log.With("connector", c.cfg.Name)
		}
		c.panics.panicked(l, c.cfg.Name, v.tc.RemoteAddr().String(), r, stack)
	}
	func() {
		defer func() { recover() }() // the state may be what broke: the end comes regardless
		v.dropBDAT()
		v.dropBody()
	}()
	v.closed = true
	if v.tc != nil {
		v.sayLast("421 4.0.0 Internal server error")
		v.tc.Close()
	}
	v.traceUnit(traceEnded, nil)
	return 0, io.EOF
}

// connector is the receive connector of the session (nil in tests'
// bare layers).
func (v *verbConn) connector() *connector {
	if v.tc == nil {
		return nil
	}
	return v.tc.c
}

// ended reports whether the session is over: the layer closed it, or
// its connection is ending (trackedConn.ending: closed, or a last reply
// written from another goroutine).
func (v *verbConn) ended() bool {
	return v.closed || v.tc != nil && v.tc.ending.Load()
}

// endStream tells go-smtp the stream ended: a body being read or not yet
// taken is dropped (its spool file removed), nothing more is framed.
func (v *verbConn) endStream() (int, error) {
	if !v.closed {
		v.closed = true
		v.dropBDAT()
		v.dropBody()
	}
	v.traceUnit(traceEnded, nil)
	return 0, io.EOF
}

func (v *verbConn) fill() error {
	if v.tc != nil && v.tc.writeStuck.Load() {
		// A reply's write timed out: what the layer read ahead (a
		// pipelined command, a body) is not run either — its reply
		// could not reach the client.
		return v.readError(errRepliesNotRead)
	}
	if v.mode == modeData {
		return v.fillData()
	}
	v.narrowReader() // bodyscan.go
	return v.fillCommand()
}

// fillData reads the DATA body up to and including its end marker, in
// as large pieces as are at hand; at the end go-smtp gets ".\r\n".
func (v *verbConn) fillData() error {
	v.bodyDeadline()
	if v.r.Buffered() == 0 {
		if v.bodyErr == nil && !v.bodyOver && v.rawLen >= dataWideAfter {
			v.widenReader() // bodyscan.go
		} else {
			v.narrowReader()
		}
		if _, err := v.r.Peek(1); err != nil {
			return v.readError(err)
		}
	}
	buf, _ := v.r.Peek(v.r.Buffered())
	if !v.creditRate(int64(len(buf))) {
		return v.rateCut()
	}
	n, ended, st := scanDataEnd(v.dstate, buf) // bodyscan.go
	v.dstate = st
	chunk := buf[:n]
	v.traceUnit(traceBody, chunk)
	if v.bodyErr == nil {
		if v.lineOver(chunk, true) {
			v.bodyErr = replyDataLineTooLong
		} else if v.limit > 0 && v.rawLen+int64(n) > rawSizeBound(v.limit) {
			v.bodyErr = replyDataTooBig // even unstuffed it is too big
		}
		if v.bodyErr != nil {
			v.sink.abort() // read on to the end, keeping nothing
		} else {
			v.rawLen += int64(n)
			if !v.bodyOver {
				// Unstuffed as it arrives, into memory or the spool file.
				v.unst.feed(chunk, v.sink.write)
				if v.limit > 0 && v.sink.n > v.limit {
					// Too big however it ends; the line length is still
					// checked to the end, as it was before this point.
					v.bodyOver = true
					v.sink.abort()
				}
			}
		}
	}
	if _, err := v.r.Discard(n); err != nil {
		return v.readError(err)
	}
	if ended {
		v.traceUnit(traceBody, nil) // the end of this body
		v.mode = modeCommand
		if v.bodyErr == nil && v.bodyOver {
			v.bodyErr = replyDataTooBig
		}
		if v.bodyErr == nil {
			// The session copies an in-memory body out before go-smtp
			// reads the next command, so the next DATA may reuse the
			// buffer.
			v.endBody()
		} else {
			v.hasBody = true
		}
		v.hand([]byte(".\r\n"))
		v.narrowReader()
	}
	return nil
}

// lineOver counts the lines of p, the next piece of a body as sent (a
// DATA body before unstuffing, BDAT chunks), and reports a line so far
// longer than max_line_length, its CRLF included (RFC 5321 §4.5.3.1.6).
// DATA and BDAT are held to the same limit: without BINARYMIME (not
// offered) a BDAT message is text like a DATA one (RFC 3030 §3). A DATA
// line that begins with "." carries one octet more on the wire than the
// line it stands for (the transparency dot, RFC 5321 §4.5.2, removed
// as received): stuffed is set for DATA, and such a line may be one
// octet longer as sent, so a line at the limit beginning with "." is
// taken by DATA as by BDAT, which carries it unstuffed.
func (v *verbConn) lineOver(p []byte, stuffed bool) bool {
	for c := p; len(c) > 0; {
		if v.lineLen == 0 {
			v.lineDot = stuffed && c[0] == '.'
		}
		limit := v.lineLimit()
		i := bytes.IndexByte(c, '\n')
		if i < 0 {
			v.lineLen += len(c)
			break
		}
		if v.lineLen+i+1 > limit {
			v.lineLen = limit + 1
			return true
		}
		v.lineLen, c = 0, c[i+1:]
	}
	return v.lineLen > v.lineLimit()
}

// lineLimit is max_line_length for the line being counted, one octet
// more for a DATA line sent with its transparency dot (lineOver).
func (v *verbConn) lineLimit() int {
	if v.lineDot {
		return v.maxLine + 1
	}
	return v.maxLine
}

// rawSizeBound is the most bytes a DATA body of a message of at most
// max bytes can take on the wire: dot-stuffing adds at most one byte to
// each line of at least two ("." CRLF becomes ".." CRLF, 4 for 3), and
// the end marker five. Past it the body is too big however it unstuffs,
// and the layer stops unstuffing it; below it only the unstuffed size
// (what RFC 1870 counts, and BDAT and MAIL SIZE= count) decides.
func rawSizeBound(max int64) int64 {
	return max + max/3 + 1 + 5
}

// startBody readies the sink for a new body (DATA's or a BDAT
// transfer's) with the session's spool settings; any body still held
// is dropped.
func (v *verbConn) startBody() {
	mem := v.sink.mem[:0] // the last body's buffer, reused (the session copied it out)
	v.dropBody()
	if cap(mem) == 0 {
		mem = bodyBuf() // bodyscan.go
	}
	mem = fitBodyBuf(mem, v.bodySizeHint(), v.idleBody())
	var budget *memBudget
	if s := v.sess(); s != nil {
		budget = s.srv.bodyMem
	}
	v.sink = bodySink{mem: mem, budget: budget}
	if !v.sink.hold(cap(mem)) {
		// The budget does not cover the buffer: the body starts with
		// none, and growMem asks for what it needs.
		putBodyBuf(mem)
		v.sink.mem = nil
	}
	v.limit = v.sizeLimit()
	if s := v.sess(); s != nil && s.spooling() {
		v.sink.newSpool, v.sink.threshold, v.sink.maxHead = s.srv.newSpool, s.srv.spoolThreshold, s.maxHeaderSize()
		v.sink.normalize = s.txConn().cfg.BareNewlines == config.BareNewlinesNormalize
	}
}

// endBody hands the kept body to the session (takeBody, takeSpooled):
// in memory, or its spool file, or why the file failed.
func (v *verbConn) endBody() {
	v.bodyDotted = v.sink.dotted
	mem, sp, err := v.sink.finish()
	v.body, v.spooled, v.hasBody = mem, sp, true
	if err != nil {
		v.body, v.spooled, v.spoolErr = nil, nil, err
		v.bodyErr = replyLocalSpool
		switch {
		case errors.Is(err, errBodyMemory):
			v.bodyErr = replyBodyMemory
		case noStorage(err):
			v.bodyErr = replyNoStorage
		}
	}
}

// replyLocalSpool answers a body whose spool file failed (not for want
// of room: replyNoStorage).
var replyLocalSpool = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem storing the message, try again later"}

// dropBody drops the body being read or not yet taken, and removes its
// spool file: the client went, the transfer was abandoned or refused.
func (v *verbConn) dropBody() {
	v.sink.abort()
	if v.spooled != nil {
		v.spooled.file.Abort()
		v.spooled = nil
	}
	v.body = nil
}

// dropBDAT abandons an open BDAT transfer.
func (v *verbConn) dropBDAT() {
	v.bdat, v.bdatLen, v.bdatErr = false, 0, nil
	v.sink.abort()
}

// takeSpooled hands the session the spool file of the body that just
// ended (nil when it is in memory, takeBody); the session owns it then:
// it finishes or aborts it.
func (v *verbConn) takeSpooled() (*spooledBody, error) {
	sp, err := v.spooled, v.spoolErr
	v.spooled, v.spoolErr = nil, nil
	return sp, err
}

// takeBody returns the body of the DATA (or BDAT) that just ended, or
// why it is refused (false: no body was read by the layer).
func (v *verbConn) takeBody() ([]byte, *gosmtp.SMTPError, bool) {
	b, err, ok := v.body, v.bodyErr, v.hasBody
	v.body, v.bodyErr, v.hasBody = nil, nil, false
	return b, err, ok
}

// unstuffData appends to dst the message in a DATA body as received, up
// to its end marker (RFC 5321 §4.5.2): the first CRLF "." CRLF, the body
// starting as if after a CRLF, ends it; a dot starting a line (after
// CRLF) is dropped; every other byte is kept, bare CR and LF included
// (the session refuses or normalises them). Runs are copied whole. dst
// may be raw[:0]: the output never overtakes the input.
func unstuffData(dst, raw []byte) []byte {
	out := dst
	for i := 0; i < len(raw); {
		// At the start of a line.
		if raw[i] == '.' {
			if bytes.HasPrefix(raw[i+1:], []byte("\r\n")) {
				return out // the end marker
			}
			i++
		}
		j := bytes.Index(raw[i:], []byte("\r\n"))
		if j < 0 {
			return append(out, raw[i:]...)
		}
		out, i = append(out, raw[i:i+j+2]...), i+j+2
	}
	return out
}

// Write passes go-smtp's replies on (one line per call: go-smtp's
// textproto writer flushes each line), editing its EHLO reply, noticing
// the 354 that starts a DATA body and the 334 that asks for a SASL
// response, and dropping the replies to commands the layer made up.
func (v *verbConn) Write(b []byte) (int, error) {
	// The reply written may differ from b (saslReply); go-smtp is told
	// that all of b was written.
	if _, err := v.write(v.saslReply(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (v *verbConn) write(b []byte) (int, error) {
	final := len(b) >= 4 && (b[3] == ' ' || b[3] == '\r')
	if v.dropReplies.Load() {
		// The drain gives this session its last reply (sayLast, not
		// through here): neither the session's own 421 nor the reply
		// of a command pipelined after it is written.
		return len(b), nil
	}
	if !v.greetSeen {
		v.greetSeen = true
		if v.banner != "" && bytes.HasPrefix(b, []byte("220 ")) {
			v.mu.Lock()
			defer v.mu.Unlock()
			if _, err := v.conn.Write([]byte("220 " + greeting(v.banner) + "\r\n")); err != nil {
				return 0, err
			}
			v.observeReply(noCommand, 220)
			return len(b), nil
		}
	}
	if v.swallow > 0 {
		if final {
			v.swallow--
		}
		return len(b), nil
	}
	if v.synthData {
		// go-smtp's reply to the DATA of BDAT LAST: a 354 is the layer's
		// business (go-smtp reads an empty body, the session the real
		// one); anything else is the client's reply to BDAT LAST.
		v.synthData = false
		if bytes.HasPrefix(b, []byte("354")) {
			v.hand([]byte(".\r\n"))
			v.result = true
			return len(b), nil
		}
		v.body, v.bodyErr, v.hasBody = nil, nil, false
		v.dropBody() // go-smtp refused it: the body and its file go
	}
	if final {
		b = v.fixReplyCode(b)
	}
	if v.rcptAsGiven != "" && final {
		b = bytes.ReplaceAll(b, []byte("<"+postmasterPath+">"), []byte(v.rcptAsGiven))
		v.rcptAsGiven = ""
	}
	b = escapeEcho(b, final && v.utf8Transaction()) // replyecho.go: client text echoed unambiguously
	if final {
		v.noteReply(b)
		switch {
		case (v.last == "EHLO" || v.last == "HELO") && bytes.HasPrefix(b, []byte("250")):
			v.greeted = true
			v.helloOnly = v.last == "HELO"
		case v.last == "AUTH" && bytes.HasPrefix(b, []byte("334")):
			v.sasl = true
			v.traceUnit(trace334, nil)
		case v.last == "AUTH" && bytes.HasPrefix(b, []byte("235")):
			v.goAuthed = true
		}
	}
	if v.ehlo && !bytes.HasPrefix(b, []byte("250")) {
		v.ehlo = false // EHLO refused: the next 250 is not its reply
	}
	if v.ehlo && bytes.HasPrefix(b, []byte("250")) {
		return v.writeEHLO(b)
	}
	if v.last == "DATA" && bytes.HasPrefix(b, []byte("354")) {
		v.mode, v.dstate = modeData, dBegin
		v.rawLen, v.lineLen, v.lineDot, v.body, v.bodyErr, v.hasBody = 0, 0, false, nil, nil, false
		v.unst, v.bodyOver = unstuffer{}, false
		v.startBody()
		v.sink.dotted = true // DATA: transparency (normalizeNewlines)
		v.startRate()
		v.result = true
		v.traceUnit(trace354, nil)
	}
	hold := final && v.holdable(b)
	v.mu.Lock()
	defer v.mu.Unlock()
	if hold { // replyhold.go: written before the layer reads again
		v.held = append(v.held, b...)
		v.holdCount(b)
		return len(b), nil
	}
	if final && v.due == "QUIT" && bytes.HasPrefix(b, []byte("221")) && v.tc != nil {
		v.tc.endSession() // the 221 ends the session: its slot is free before the write waits
	}
	if err := v.writeHeld(b); err != nil {
		return 0, err
	}
	if final {
		if v.due == "QUIT" && bytes.HasPrefix(b, []byte("221")) {
			v.quitAnswered = true
		}
		v.countReply(b)
	}
	return len(b), nil
}

// utf8Transaction reports whether the reply being written is to a MAIL
// that said SMTPUTF8 — taken or refused: the client asked for UTF-8 —,
// or to a RCPT of a transaction whose MAIL did: such a reply may echo
// the client's address in UTF-8 (RFC 6531 §3.7.4; replyecho.go), one
// rule for every reply that echoes an address. It runs in go-smtp's
// goroutine, which set the session's options.
func (v *verbConn) utf8Transaction() bool {
	switch v.last {
	case "MAIL":
		return v.mailUTF8
	case "RCPT":
		s := v.sess()
		return s != nil && s.opts.UTF8
	}
	return false
}

// quitDone reports whether the session's QUIT was answered.
func (v *verbConn) quitDone() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.quitAnswered
}

func (v *verbConn) writeEHLO(b []byte) (int, error) {
	line := strings.TrimRight(string(b), "\r\n")
	final := len(line) > 3 && line[3] == ' '
	kw := strings.ToUpper(line[min(4, len(line)):])
	var out bytes.Buffer
	switch {
	case strings.HasPrefix(kw, "AUTH ") && v.authNeedsTLS():
		// AUTH is offered only after STARTTLS here — and not at all
		// on a connection that cannot STARTTLS (authNeedsTLS).
	case strings.HasPrefix(kw, "AUTH ") && !final && v.authenticated():
		// RFC 4954 §4: after a successful AUTH a further one is
		// refused 503; go-smtp lists AUTH whenever authentication is
		// allowed, which offered the client a command it may not use.
		// Never the final line: go-smtp (v0.25.1 handleGreet) lists
		// SIZE after AUTH in every EHLO reply; a final AUTH would be
		// kept (the reply needs its last line), and
		// TestSMTP8EHLOAfterAuthOffersNoAuth would fail.
	case final:
		v.ehlo = false
		if v.startTLSConfig() != nil && !v.tlsOn.Load() {
			out.WriteString("250-STARTTLS\r\n")
		}
		s := v.sess()
		if s != nil {
			// The rights now in force, as the shadow verbs read them
			// (shadowOff): the keyword offers only what XSHADOW grants;
			// an account a reload revoked is no server's (authreload.go).
			s.refreshRights()
			s.dropRevokedAuth()
		}
		if s != nil && s.xshadowKeyword() != "" {
			s.readMarkFloors()
			out.WriteString("250-" + s.xshadowKeyword() + "\r\n")
		}
		if s != nil && s.advertiseDigest() {
			// The digest with or without the verb (doc.go): a shadow
			// server this session offers no XSHADOW to (no
			// accept-xshadow here) still knows the primary answering
			// it — alive, its copies not taken over — from something
			// else at its address.
			out.WriteString("250-XSHADOWDB " + queue.DatabaseDigest(s.srv.digestOf.DatabaseID()) + "\r\n")
		}
		if v.tlsOn.Load() {
			out.WriteString("250-REQUIRETLS\r\n") // RFC 8689: only over TLS
		}
		if l := v.ehloRcptMax(); l != "" {
			out.WriteString("250-" + l + "\r\n")
		}
		if l := v.ehloLimits(line); l != line {
			b = []byte(l + "\r\n")
		}
		out.Write(b)
	default:
		if l := v.ehloLimits(line); l != line {
			b = []byte(l + "\r\n")
		}
		out.Write(b)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if out.Len() > 0 {
		if err := v.writeHeld(out.Bytes()); err != nil {
			return 0, err
		}
	}
	if final {
		v.countReply(b)
	}
	return len(b), nil
}

// authenticated: the session is authenticated now (an account a reload
// revoked is dropped first: its session may authenticate again,
// authAgain).
func (v *verbConn) authenticated() bool {
	s := v.sess()
	if s == nil {
		return false
	}
	s.dropRevokedAuth()
	return s.user != ""
}

// reply writes one of the layer's own replies (from the connection's
// goroutine: it counts errors).
func (v *verbConn) reply(lines ...string) {
	v.replyWithin(v.replyWait(), lines...)
}

// replyWithin is reply with the write's bound given.
func (v *verbConn) replyWithin(wait time.Duration, lines ...string) {
	if len(lines) == 0 {
		return
	}
	last := []byte(lines[len(lines)-1])
	v.noteReply(last)
	if v.sayWithin(wait, lines...) == nil {
		v.countReply(last)
	}
}

// say writes reply lines; any goroutine may (Shutdown does). The write
// waits at most replyWait, as go-smtp's own replies (its WriteTimeout):
// a client that does not read them is cut off after that
// (trackedConn.writeStuck), not after a minute per reply.
func (v *verbConn) say(lines ...string) error {
	return v.sayWithin(v.replyWait(), lines...)
}

// sayWithin is say with the write's bound given.
func (v *verbConn) sayWithin(wait time.Duration, lines ...string) error {
	var out bytes.Buffer
	for _, l := range lines {
		out.Write(asciiLine([]byte(l))) // replyecho.go: no raw byte in a reply
		out.WriteString("\r\n")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.conn.SetWriteDeadline(time.Now().Add(wait))
	err := v.writeHeld(out.Bytes())
	return err
}

// replyWait is how long a reply's write may wait for the client to read:
// the connector's idle_timeout as the session last took it
// (takeLimits), at most a minute — a minute when there is none.
func (v *verbConn) replyWait() time.Duration {
	if d := time.Duration(v.writeWait.Load()); d > 0 && d < time.Minute {
		return d
	}
	return time.Minute
}

// sayLast writes the session's last reply from any goroutine: no reply
// of the session's own goroutine follows it (the connection is ending,
// trackedConn refuses later writes).
func (v *verbConn) sayLast(lines ...string) error {
	var out bytes.Buffer
	for _, l := range lines {
		out.Write(asciiLine([]byte(l)))
		out.WriteString("\r\n")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.handshaking {
		// Inside a STARTTLS handshake: no reply can be written, the
		// connection just ends (the close ends the handshake's read
		// within the linger's bound, rt16e F2).
		v.tc.ending.Store(true)
		return errInHandshake
	}
	v.tc.endSession() // the session is over: its slot is free before the write waits
	err := v.writeHeld(out.Bytes())
	v.tc.ending.Store(true)
	return err
}

var errInHandshake = errors.New("inside a TLS handshake: nothing written")

// authOffer is what AUTH the connection is offered now: the mechanisms
// and allow_insecure of the connector in force that takes the session's
// address (authConn: its own, or another a reload gave the address to;
// authreload.go), before a session exists or when no connector in force
// takes the address those the connection was opened with (the session
// then refuses AUTH itself, 454: replyAuthNoConnectorAtAddress; its EHLO lists none, AuthMechanisms).
func (v *verbConn) authOffer() (mechs []string, insecure bool) {
	if s := v.sess(); s != nil {
		if c := s.authConn(); c != nil {
			return c.cfg.Auth.Mechanisms, c.cfg.Auth.AllowInsecure
		}
	}
	return v.authMechs, v.insecureAuth
}

// insecureNow is authOffer's allow_insecure.
func (v *verbConn) insecureNow() bool {
	_, insecure := v.authOffer()
	return insecure
}

// authNeedsTLS reports whether AUTH must wait for TLS on this
// connection now: TLS is not on and the connector in force does not
// allow AUTH in clear (allow_insecure). Whatever TLS the connection
// was opened with: a connection opened on a connector without a
// certificate (allow_insecure: true then, config validation) that a
// reload gave one and took allow_insecure from has no STARTTLS to
// offer (tlsCfg nil), and gets no AUTH at all (replyAuthNeedsTLS).
func (v *verbConn) authNeedsTLS() bool {
	return !v.tlsOn.Load() && !v.insecureNow()
}

// replyAuthNeedsTLS is the refusal of an AUTH that must wait for TLS
// (authNeedsTLS): RFC 4954's 538 where this connection can STARTTLS;
// where it cannot (opened on a connector without a certificate) only a
// new connection can authenticate, so a 4xx that says so
// (replyAuthCannotTLS), never a 5xx the client cannot cure here, nor a
// STARTTLS this connection does not offer.
func (v *verbConn) replyAuthNeedsTLS() string {
	if v.startTLSConfig() != nil {
		return "538 5.7.11 Encryption required for requested authentication mechanism"
	}
	return replyLines(replyAuthCannotTLS)[0]
}

// replyTLSGone answers STARTTLS on a connection whose receive connector
// a reload left without a certificate (startTLSConfig nil).
const replyTLSGone = "454 4.7.0 TLS not available: this receive connector has no certificate now"

// replyTLSCannot answers STARTTLS on a connection opened on a connector
// without a certificate, where the connector now answering it has one
// (a reload gave it one, or gave the address to one that has): this
// connection cannot start TLS, a new one can — the README's form of a
// TLS not available here, not go-smtp's 502 5.5.1 TLS not supported.
const replyTLSCannot = "454 4.7.0 TLS not available: this connection cannot start TLS; connect again and issue STARTTLS"

// tlsOnlyAnew reports whether the connection cannot start TLS (opened
// without a certificate) while the connector now answering it — the one
// at its address (movedTo), else its own in force — has one.
func (v *verbConn) tlsOnlyAnew() bool {
	if v.tlsCfg != nil || v.tlsOn.Load() {
		return false
	}
	if s := v.sess(); s != nil {
		if at := s.movedTo(); at != nil {
			return at.tls != nil
		}
	}
	c := v.connInForce()
	return c != nil && c.tls != nil
}

// tlsNeverOffered reports whether STARTTLS is unknown on the connection
// (go-smtp's 502 5.5.1 TLS not supported): opened without a certificate,
// not under TLS, and no connector now answering it has one (tlsOnlyAnew:
// 454 there). Unknown whatever the sequence, as the shadow verbs a
// connector never offers are: inside a BDAT transfer it does not end the
// transfer as a STARTTLS out of place does.
func (v *verbConn) tlsNeverOffered() bool {
	return v.tlsCfg == nil && !v.tlsOn.Load() && !v.tlsOnlyAnew()
}

// startTLSConfig is the TLS configuration of the next STARTTLS handshake
// on the connection: the connector in force's certificate and client CA
// (a reload's), nil where it has none — a connection opened without one
// has no STARTTLS to offer (tlsCfg nil: new connections only get one a
// reload added), and one opened with a certificate a reload then took
// away offers none from its next EHLO (never the certificate taken
// away). A session whose address a reload gave another connector
// (movedTo) gets that one's, none where it has none, as a new
// connection from the address would: its tls.required is the one the
// session's MAIL meets (requireConn). A connector a reload removed or
// renamed, where none other takes the address, leaves the connection
// the one it was opened with. A handshake under way, and a session
// already under TLS, keep theirs.
func (v *verbConn) startTLSConfig() *tls.Config {
	if v.tlsCfg == nil {
		return nil
	}
	if s := v.sess(); s != nil {
		if at := s.movedTo(); at != nil {
			return at.tls
		}
	}
	if c := v.connInForce(); c != nil {
		return c.tls
	}
	return v.tlsCfg
}

// startTLS runs the STARTTLS exchange. After it the client must greet
// again, and everything learnt before it is forgotten (RFC 3207 §4.2).
func (v *verbConn) startTLS(arg string) {
	switch {
	case arg != "":
		v.reply("501 5.5.4 Syntax error (no parameters allowed)")
		return
	case v.tlsOn.Load():
		v.reply("503 5.5.1 TLS already active")
		return
	case v.sess() != nil && v.sess().user != "" && !v.sess().dropRevokedAuth():
		// go-smtp cannot forget a completed AUTH. One a reload revoked
		// (a login made in clear on a connector that now offers AUTH
		// over TLS only, or requires TLS) is ended here as at MAIL:
		// STARTTLS is the way on for such a session, and the client
		// authenticates again under TLS (authAgain).
		v.reply(replyTLSAfterAuth)
		return
	case v.r.Buffered() > 0:
		// Commands pipelined after STARTTLS would cross the handshake.
		v.reply("503 5.5.1 STARTTLS must be the last command of a group")
		return
	}
	cfg := v.startTLSConfig() // the connector in force's (reloadlimits.go)
	if cfg == nil {
		// A reload took the connector's certificate away: none to
		// offer, never the one taken away (RFC 3207 §4: 454).
		v.reply(replyTLSGone)
		return
	}
	v.reply("220 2.0.0 Ready to start TLS")
	// The handshake runs without mu, which a handshake waiting a minute
	// for a silent client's ClientHello would hold as long: a drain's
	// 421 (sayLast) found it held and waited (rt16e F2). handshaking
	// keeps every other writer out of the handshake's bytes; this
	// goroutine, the only other writer, is busy with it.
	v.mu.Lock()
	v.handshaking = true
	v.mu.Unlock()
	tc := tls.Server(v.tc, cfg)
	tc.SetDeadline(time.Now().Add(v.handshakeTimeout()))
	err := tc.Handshake()
	tc.SetDeadline(time.Time{})
	v.mu.Lock()
	v.handshaking = false
	if err != nil {
		v.mu.Unlock()
		v.tc.Close() // the stream is in an unknown state: end it
		v.closed = true
		return
	}
	v.conn, v.r = tc, bufio.NewReaderSize(heldFirst{v, tc}, 4096)
	v.forgetReaders()
	v.tlsOn.Store(true)
	v.mu.Unlock()
	var names []string
	var chain []*x509.Certificate
	if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 {
		cert := st.PeerCertificates[0]
		names = append(append(names, cert.DNSNames...), cert.Subject.CommonName)
		chain = st.PeerCertificates
	}
	v.certNames, v.certChain = names, chain
	if s := v.sess(); s != nil {
		s.forgetAfterTLS()
	}
	// go-smtp must forget the transaction and greeting too: until the
	// client greets again (which go-smtp treats as a reset) the layer
	// takes nothing but EHLO, HELO, NOOP, RSET and QUIT.
	v.greeted, v.sasl, v.againSASL = false, false, nil
	v.dropBDAT()
}

// greeting is the text after "220 " of a connector with a banner: the
// banner verbatim when it says ESMTP already,
// else the banner followed by " ESMTP Service Ready" as go-smtp writes it
// (clients look for ESMTP before they try EHLO).
func greeting(banner string) string {
	for _, w := range strings.Fields(banner) {
		if strings.EqualFold(w, "ESMTP") {
			return banner
		}
	}
	return banner + " ESMTP Service Ready"
}

// handshakeTimeout bounds a STARTTLS handshake: the connector's
// idle_timeout (a stalled handshake holds a connection no longer than a
// silent client does), at most a minute.
func (v *verbConn) handshakeTimeout() time.Duration {
	if v.idle > 0 && v.idle < time.Minute {
		return v.idle
	}
	return time.Minute
}

// xshadow answers XSHADOW <server-id> (W-2), and from version 7 on
// XSHADOW <server-id> MARK[=<n> DB=<database-id>] (rollback marks), from
// 18 with CODES, from 20 with NAME (this server's name stated in the
// reply: shadowwait.go).
func (v *verbConn) xshadow(arg string) (out string) {
	s := v.sess()
	id, marks, _ := strings.Cut(arg, " ")
	if s != nil {
		// Opening a shadow session is granted with the rights now in
		// force, also to a session that has one (rr25 F3): a reload
		// that took accept-xshadow away refuses it as the EHLO after it
		// no longer offers it. A server account the reload revoked
		// opens none (authreload.go).
		s.refreshRights()
		s.dropRevokedAuth()
		s.lowerServer()
		// A cause is this XSHADOW's own: one a refused copy left
		// (MAIL … XSHADOWCOPY=, logAnotherDatabase) is not told with a
		// refusal of another cause (unofferedShadow: rrverbs40 F3).
		s.refusalCause = ""
	}
	switch {
	case s == nil:
		return "503 5.5.1 Send EHLO first"
	case !s.advertiseXShadow():
		return s.unofferedShadow(id) // a refusal of a holder's sessions too (shadowunoffered.go)
	case s.busy.Load(): // the sequence before the syntax
		return "503 5.5.1 XSHADOW not allowed during a mail transaction"
	case marks != "" && s.shadowVersion() < 7,
		id == "" || len(id) > maxServerID || strings.ContainsAny(id, "\t"):
		return xshadowSyntax(s.shadowVersion())
	}
	marks, named := s.cutName(marks)
	marks, codes := s.cutCodes(marks)
	ask, presented, hasMark, pdb, ok := parseMarkArgs(marks)
	if ok && pdb != "" && !hasMark && s.shadowVersion() < 10 {
		ok = false // the database id alone is of version 10
	}
	if !ok {
		return xshadowSyntax(s.shadowVersion())
	}
	// The session is noted by its final reply: a refusal after the
	// server was let in (another server's database id, a rolled-back
	// holder) is a refusal of its sessions too.
	s.xshadowDB, s.refusalCause = pdb, ""
	defer func() { s.noteShadowSession(id, out) }()
	reply := s.startShadow(id)
	s.codes = false
	if strings.HasPrefix(reply, "250 ") && codes {
		// Version 18: this client reads the code (listLine too).
		s.codes = true
		reply = "250 2.0.0 " + strings.TrimPrefix(reply, "250 ")
	}
	if !strings.HasPrefix(reply, "250 ") {
		return reply
	}
	if named {
		// Version 20: this server's own name ends the reply, after the
		// mark (a client of 19 or below never said NAME).
		defer func() {
			if strings.HasPrefix(out, "250 ") {
				out += s.statedName()
			}
		}()
	}
	if !ask {
		return reply
	}
	if r := s.databaseOfAnother(id, pdb); r != "" {
		s.shadowServer, s.shadowPeerDB = "", ""
		return r
	}
	mk := s.srv.queue.(MarkKeeper) // offered only with one (shadowVersion)
	if pdb != "" {
		// The peer, primary of copies it pushes here, presents its mark
		// for this server: a lower one than seen is a rolled-back
		// database (its copies here are taken over).
		// Compared with the marks known at this session's EHLO: the peer
		// read its counter after it (markFloors), so a mark a copy of
		// another session brought since may be above it without a rollback.
		// A peer that keeps no mark for this server (version 10: it met
		// this database under no name it counts for) presents its
		// database id alone: recorded, nothing compared.
		if hasMark {
			if _, _, err := mk.ShadowMarkSeen(id, pdb, presented, s.markFloors[mailaddr.NameKey(id)]); err != nil {
				s.log.Error("checking a primary's rollback mark failed", "primary", id, "err", err)
			}
		}
		if r := s.holderSeen(id, pdb); r != "" {
			s.shadowServer, s.shadowPeerDB = "", "" // refused as databaseOfAnother refuses
			return r
		}
		s.shadowPeerDB, s.busyTold = pdb, nil // a new shadow session: every copy in delivery told again (shadowtakendone.go)
		s.shadowPeerMark = 0
		if hasMark {
			s.shadowPeerMark = presented // the mark XDISCARD's discards are kept under when early (shadowpush.go)
		}
		s.anotherDatabaseAccepted(id, pdb)
		s.primarySeen(id, pdb)
	}
	s.wantMark = true
	return reply + " MARK=" + strconv.FormatUint(mk.ShadowHolderMark(id), 10)
}

// xshadowSyntax is XSHADOW's one syntax line at version: the whole form
// that version reads, whatever was wrong (verbs40 F3).
func xshadowSyntax(version int) string {
	switch {
	case version >= NameVersion:
		return "501 5.5.4 Syntax: XSHADOW <server-id> [MARK | MARK=<n> DB=<database-id> | MARK DB=<database-id>] [CODES] [NAME]"
	case version >= 18:
		return "501 5.5.4 Syntax: XSHADOW <server-id> [MARK | MARK=<n> DB=<database-id> | MARK DB=<database-id>] [CODES]"
	case version >= 10:
		return "501 5.5.4 Syntax: XSHADOW <server-id> [MARK | MARK=<n> DB=<database-id> | MARK DB=<database-id>]"
	case version >= 7:
		return "501 5.5.4 Syntax: XSHADOW <server-id> [MARK | MARK=<n> DB=<database-id>]"
	}
	return "501 5.5.4 Syntax: XSHADOW <server-id>"
}

// DatabaseOwners is the part of the queue that knows which primary a
// transport database id was met as (queue.Manager.ShadowDatabaseOfAnother).
type DatabaseOwners interface {
	ShadowDatabaseOfAnother(server, dbID string) (string, error)
}

// databaseOfAnother refuses an XSHADOW presenting a database id this
// server knows as another server's primary (rt17e-F1): a database id
// only confirms who the authenticated server is, never makes it
// another, so nothing of that server's copies is discarded, marked or
// given back. The shadow session is not opened.
func (s *session) databaseOfAnother(server, dbID string) string {
	do, ok := s.srv.queue.(DatabaseOwners)
	if !ok || dbID == "" {
		return ""
	}
	other, err := do.ShadowDatabaseOfAnother(server, dbID)
	switch {
	case err != nil:
		s.log.Error("checking a presented transport database id failed", "shadow_server", server, "err", err)
		return "451 4.3.0 Database id not checked, try again later"
	case other != "":
		s.logAnotherDatabase("shadow session refused: the presented transport database id is another server's", server, dbID, other)
		return "550 5.7.1 Database id " + dbID + " is another server's here; nothing changed"
	}
	return ""
}

// HolderRecorder is the part of the queue that records the transport
// database id of a server keeping shadow copies of messages held here
// (queue.Manager.ShadowHolderSeen): a new id marks the messages whose
// copies that server lost with its old database.
type HolderRecorder interface {
	ShadowHolderSeen(server, dbID string) (lost int, old string, err error)
}

// StatedHolderRecorder is a HolderRecorder told the name the server
// states as its own (queue.Manager.ShadowHolderSeenStated). A session
// here states nothing independent of its server id: it passes none.
type StatedHolderRecorder interface {
	ShadowHolderSeenStated(server, stated, dbID string) (lost int, old string, err error)
}

// holderSeen records the database id a peer presented at XSHADOW. The
// peer may relay messages in this session, and keeps their shadow copies
// under that id: recorded before any MAIL of the session, so that the
// commit finding a new id marks only the messages relayed before it
// (whose copies went with the old database), never one relayed here now.
//
// The queue refuses an id it keeps as another primary's
// (queue.DatabaseOfAnotherError: another session recorded it since
// databaseOfAnother looked): an expected outcome, a WARN with the reason
// and the peer, and the refusal's reply, which databaseOfAnother gives
// ("" when the id was taken or its recording failed).
//
// A departed primary's session (departed.go) relays nothing here and is
// no shadow server of this one: the topology says which servers keep
// copies of this server's messages, and it no longer names that one. Its
// id is the one the record of its copies keeps (bindServerID compared
// it): nothing is recorded, and the session says so at DEBUG — before,
// the queue WARNed at each of its sessions that a "shadow server's" id
// was not recorded, while the id it keeps as the primary's was shown
// recorded (rt44-shadow4 F3).
func (s *session) holderSeen(server, dbID string) string {
	if s.shadowDeparted {
		s.log.Debug("shadow session of a primary not in this server's topology, let in by the record of its copies held here",
			"primary", server, "database_id", dbID)
		return ""
	}
	hr, ok := s.srv.queue.(HolderRecorder)
	if !ok {
		return ""
	}
	var lost int
	var old string
	var err error
	if sh, ok := hr.(StatedHolderRecorder); ok {
		// Nothing independent is stated: the session's server id is
		// the name it gave itself, which the topology already admitted
		// for this address. It moves no id recorded under another name
		// (queue holderMovable: only a name a server stated when this
		// server dialled it links two names).
		lost, old, err = sh.ShadowHolderSeenStated(server, "", dbID)
	} else {
		lost, old, err = hr.ShadowHolderSeen(server, dbID)
	}
	if r := s.refusedDatabase(err); r != nil {
		return Reply(r)
	}
	switch {
	case err != nil:
		s.log.Error("recording the shadow server's transport database failed", "shadow_server", server, "err", err)
	case lost > 0:
		s.log.Warn("shadow server returned with a new transport database: its copies of messages held here are lost and made again",
			"shadow_server", server, "database_id", dbID, "was", old, "messages", lost)
	case old != "":
		s.log.Info("shadow server returned with a new transport database; it held no copy of a message still here",
			"shadow_server", server, "database_id", dbID, "was", old)
	}
	return ""
}

// PrimaryRecorder is the part of the queue that learns from a peer's
// XSHADOW that a primary of copies held here is back with the database
// they were taken over from (queue.Manager.ShadowPrimaryPresentedHere):
// the copies still waiting are given back.
type PrimaryRecorder interface {
	ShadowPrimaryPresentedHere(primary, dbID string) (int, error)
}

// primarySeen hands the database id a peer presented at XSHADOW to the
// queue as that of a primary: the peer may be one this server holds
// copies for (taken over while it was away), back with its queue — its
// own sessions to this server often come before any of this server's
// to it, and a copy still waiting goes back to it before it is relayed
// (rt16a F1).
func (s *session) primarySeen(server, dbID string) {
	pr, ok := s.srv.queue.(PrimaryRecorder)
	if !ok {
		return
	}
	if _, err := pr.ShadowPrimaryPresentedHere(server, dbID); err != nil { // the give-back is logged by the queue
		s.log.Error("recording a primary's database id failed", "primary", server, "err", err)
	}
}

// parseMarkArgs reads XSHADOW's version-7 arguments: "" (no mark),
// "MARK" (ask), or "MARK=<n> DB=<database-id>" (present and ask); and
// version 10's "MARK DB=<database-id>" (ask, and present the database id
// without a mark: hasMark false).
func parseMarkArgs(arg string) (ask bool, mark uint64, hasMark bool, db string, ok bool) {
	f := strings.Fields(arg)
	switch {
	case len(f) == 0:
		return false, 0, false, "", true
	case len(f) == 1 && strings.EqualFold(f[0], "MARK"):
		return true, 0, false, "", true
	case len(f) == 2 && strings.EqualFold(f[0], "MARK"):
		d, id, ok := strings.Cut(f[1], "=")
		if !ok || !strings.EqualFold(d, "DB") || !shadowid.Valid(id) {
			return false, 0, false, "", false
		}
		return true, 0, false, id, true
	case len(f) == 2:
		k, n, ok1 := strings.Cut(f[0], "=")
		d, id, ok2 := strings.Cut(f[1], "=")
		v, err := strconv.ParseUint(n, 10, 64)
		if !ok1 || !ok2 || !strings.EqualFold(k, "MARK") || !strings.EqualFold(d, "DB") || err != nil || !markDigits(n) || !shadowid.Valid(id) {
			return false, 0, false, "", false
		}
		return true, v, true, id, true
	}
	return false, 0, false, "", false
}

// xqueryDiscard answers XQUERYDISCARD <max> (W-4).
func (v *verbConn) xqueryDiscard(arg string) string {
	s := v.sess()
	if s == nil { // no greeting yet (a connector that offers the verbs)
		return replyNoGreeting
	}
	if r := s.shadowVerbRefusal("XQUERYDISCARD"); r != "" {
		return r
	}
	arg, delayed := s.cutDelayed(arg)
	max, wait, partial, takeover, ok := s.parseDiscardArgs(arg)
	if !ok {
		if s.shadowVersion() >= 17 {
			return "501 5.5.4 Syntax: XQUERYDISCARD <max> [WAIT=<seconds>] [PARTIAL [TAKEOVER [DELAYED]]], max a positive integer"
		}
		if s.shadowVersion() >= 11 {
			return "501 5.5.4 Syntax: XQUERYDISCARD <max> [WAIT=<seconds>] [PARTIAL [TAKEOVER]], max a positive integer"
		}
		if s.shadowVersion() >= 9 {
			return "501 5.5.4 Syntax: XQUERYDISCARD <max> [WAIT=<seconds>] [PARTIAL], max a positive integer"
		}
		return "501 5.5.4 Syntax: XQUERYDISCARD <max> [WAIT=<seconds>], max a positive integer"
	}
	s.querying.Store(true)
	defer s.querying.Store(false)
	if v.r.Buffered() > 0 {
		// More commands are pipelined behind this one: a long poll is
		// the last command a client sends before it waits, so answer
		// now, or a pipelined burst of WAIT= ties the connection for
		// their sum (maxDiscardWait each).
		wait = 0
	}
	if wait > 0 {
		s.watching() // a long poll: this is its watch session
		// The peer spoke now: its contact is the query's arrival, not
		// the end of the wait — a peer killed while its long poll is
		// held here would be counted heard from up to the wait later
		// (the primary's holders' watch takes a holder heard from as
		// holding its copies: shadow.HeardStore).
		s.peerAnswered()
	}
	s.waitDiscards(wait, partial, takeover, delayed)
	if wait > 0 {
		// A reload while it waited (the account removed, the address
		// moved): judged again before anything is handed, by the
		// configuration in force when it wakes.
		if r := s.shadowStanding(); r != "" {
			return r
		}
	}
	mark := ""
	var ids []string
	var ack func()
	if md, ok := s.srv.shadow.(MarkedDiscarder); ok && s.wantMark {
		// Read after the session's messages were committed (their 250s
		// came first): the mark proves them (marks.go). And in the
		// read that lists the notifications: the holder keeps an early
		// one under it (queue AddEarlyDiscard) and lets it settle a
		// copy whose mark is not above it. Read after the listing, it
		// covered a copy committed between the two, made after the
		// discard, which the holder then did not keep (rrearlymark40);
		// read before it, in a read of its own, it missed a copy
		// committed between the two and delivered at once, whose
		// discard the reply listed: the holder kept that copy, on its
		// way, as a new one, settled by no discard (sr1749).
		var n uint64
		ids, n, ack = md.DiscardsMarked(s.shadowServer, max, partial, takeover, delayed)
		mark = " MARK=" + strconv.FormatUint(n, 10)
	} else {
		if s.wantMark {
			// A shadow that cannot list with the mark: read before
			// the listing, never after (rrearlymark40).
			mark = " MARK=" + strconv.FormatUint(s.srv.queue.(MarkKeeper).ShadowHolderMark(s.shadowServer), 10)
		}
		ids, ack = s.discards(max, partial, takeover, delayed)
	}
	if wait == 0 {
		s.peerAnswered()
	}
	if len(ids) == 0 {
		return "250 2.0.0 0 discard notifications" + mark
	}
	lines := []string{fmt.Sprintf("250-2.0.0 %d discard notifications%s", len(ids), mark)}
	for i, id := range ids {
		sep := "-"
		if i == len(ids)-1 {
			sep = " "
		}
		lines = append(lines, s.listLine(sep, id))
	}
	if err := v.writeReply(lines...); err != nil {
		s.log.Info("discard notifications not delivered; they will be sent again", "shadow_server", s.shadowServer, "err", err)
		return ""
	}
	v.deferAck(ack)                    // forgotten once the peer speaks again
	s.srv.obs.DiscardsHanded(len(ids)) // repeats included; each once when acknowledged: queue's DiscardsSent
	s.log.Debug("discard notifications sent", "shadow_server", s.shadowServer, "count", len(ids))
	return ""
}

// mailShadowParam takes XSHADOW=<id> off a MAIL command and gives it to
// the session (W-3).
func (v *verbConn) mailShadowParam(ml *mailLine) string {
	taken := ml.take("XSHADOW")
	ss := v.sess()
	if len(taken) == 0 {
		return "" // pendingShadowID: forgotten at every MAIL (mailParams)
	}
	id := taken[0].value
	switch {
	case len(taken) > 1: // RFC 5321 §4.1.2: a parameter keyword appears once
		return "501 5.5.4 XSHADOW= given more than once"
	case ss == nil || ss.shadowServer == "":
		return "503 5.5.1 XSHADOW parameter outside a shadow session"
	case ss.shadowDeparted:
		return ss.departedVerbRefusal("a message under a shadow id") // departed.go
	case !shadowid.Valid(id):
		return "501 5.5.4 XSHADOW= needs an id of " + shadowid.Syntax
	}
	ss.pendingShadowID = id
	return ""
}

// net.Conn methods go to the current transport.
func (v *verbConn) Close() error                       { return v.conn.Close() }
func (v *verbConn) LocalAddr() net.Addr                { return v.tc.LocalAddr() }
func (v *verbConn) RemoteAddr() net.Addr               { return v.tc.RemoteAddr() }
func (v *verbConn) SetDeadline(t time.Time) error      { return v.conn.SetDeadline(t) }
func (v *verbConn) SetReadDeadline(t time.Time) error  { return v.conn.SetReadDeadline(t) }
func (v *verbConn) SetWriteDeadline(t time.Time) error { return v.conn.SetWriteDeadline(t) }

// rcptParams refuses the parameters of a RCPT command inside a
// transaction: any after a plain HELO, raw UTF-8 in one without
// SMTPUTF8, and a keyword (NOTIFY, ORCPT) that appears twice, for the
// same reason as for MAIL (checkParams). ps are the line's parameters, read once
// (parseMailLine: after the path, with or without its angle brackets).
func (v *verbConn) rcptParams(ps []mailParam) string {
	if len(ps) == 0 {
		return "" // no parameters (most recipients)
	}
	if v.helloOnly {
		if r := nonKeywordParam(ps, false); r != "" {
			return r
		}
		return replyRcptParamsNeedEHLO
	}
	if s := v.sess(); !s.opts.UTF8 {
		for _, p := range ps {
			if !esmtpKeyword(p.name) {
				// No parameter at all (a second address after the
				// path): a syntax error (checkParams, unknownParam),
				// not text that needs an extension (rdfront45).
				break
			}
			if !isASCII(p.name) || !isASCII(p.value) {
				// Raw UTF-8 in a parameter (an ORCPT's
				// utf-8-addr-unitext) is the SMTPUTF8 extension's (RFC
				// 6533 §3); without it an ORCPT writes such an address
				// as xtext (\x{…}).
				return replyRcptParamsNeedUTF8
			}
		}
	}
	return checkParams(ps, false, false)
}

// knownParam reports whether key (upper-cased, as go-smtp keys its map)
// is a MAIL (mail) or RCPT parameter this server implements: go-smtp's
// with the extensions the connectors' servers enable (SIZE, BODY,
// SMTPUTF8, REQUIRETLS, DSN's RET, ENVID, NOTIFY and ORCPT, and AUTH=;
// not RRVS, DELIVERBY's BY or MT-PRIORITY: server.go), and the shadow
// verbs' own MAIL parameters where they are offered (shadowVerbs: the
// ones copyParams takes; XSHADOW= is taken before). Any other is refused
// before go-smtp reads the line, 555 5.5.4 in umbra's words
// (unknownParam).
func knownParam(key string, mail, shadowVerbs bool) bool {
	if !mail {
		return key == "NOTIFY" || key == "ORCPT"
	}
	switch key {
	case "SIZE", "BODY", "SMTPUTF8", "REQUIRETLS", "RET", "ENVID", "AUTH":
		return true
	case "XSHADOW", "XSHADOWCOPY", "XSHADOWMARK", "XSHADOWBATCH":
		return shadowVerbs
	}
	return false
}

// unknownParam is the refusal of a MAIL (mail) or RCPT line whose
// parameter key this server does not implement, in umbra's words (RFC
// 5321 §4.1.1.11: 555, RFC 3463 5.5.4), naming the parameter and the
// command: a parameter of an extension umbra knows but does not offer
// (RRVS, DELIVERBY's BY, MT-PRIORITY: unofferedParam), on MAIL or on
// RCPT, is "not supported"; any other keyword "not recognized". go-smtp's
// "DELIVERBY is not implemented" named no parameter of the line, and
// reached the client for RCPT only.
func unknownParam(p mailParam, mail bool) string {
	if !esmtpKeyword(p.name) {
		// No keyword at all (a second address after the path, a comma
		// list "<a>,<b>"): the line's syntax is wrong, not a parameter
		// unknown here, and the text is named as the client wrote it —
		// upper-cased it read as another address (rt45-front item 2).
		verb := paramsVerb(mail)
		return "501 5.5.4 Syntax error in " + verb + " parameters: " + echoedParam(p.nameOrWritten()) + " is no keyword"
	}
	if unofferedParam(p.key) {
		return "555 5.5.4 " + paramsVerb(mail) + " parameter " + p.key + " not supported"
	}
	return "555 5.5.4 " + paramsVerb(mail) + " parameter " + namedParam(p.name) + " not recognized"
}

// unofferedParam reports whether key (upper-cased) is the parameter of
// an SMTP extension umbra knows but offers on no connector: RRVS (RFC
// 7293), DELIVERBY's BY (RFC 2852), MT-PRIORITY (RFC 6710).
func unofferedParam(key string) bool {
	switch key {
	case "RRVS", "BY", "MT-PRIORITY":
		return true
	}
	return false
}

// paramsVerb names the command whose parameters a reply refuses.
func paramsVerb(mail bool) string {
	if mail {
		return "MAIL FROM"
	}
	return "RCPT TO"
}

// maxNamedParam bounds the bytes of a keyword a refusal names: a line
// may be as long as the connector's max_line_length, a reply line not
// (RFC 5321 §4.5.3.1.5, 512 octets).
const maxNamedParam = 64

// namedParam is a parameter keyword as a reply names it: as the client
// wrote it, ASCII letters upper-cased, in printable ASCII (echoText) and
// at most maxNamedParam of its bytes, "..." marking a cut.
func namedParam(name string) string {
	return echoedParam(string(upperASCII(name)))
}

// echoedParam is text of a parameter as a reply names it, unchanged but
// for the echo rule (printable ASCII, echoText) and the maxNamedParam
// bound.
func echoedParam(name string) string {
	cut := ""
	if len(name) > maxNamedParam {
		name, cut = name[:maxNamedParam], "..."
	}
	return string(echoText([]byte(name))) + cut
}

// nonKeywordParam is the refusal of the first of ps that is no keyword
// (unknownParam's syntax error), "" when each is one: asked before a
// plain HELO's "parameters need EHLO", which text that is no parameter
// would misname (a second address needs no extension).
func nonKeywordParam(ps []mailParam, mail bool) string {
	for _, p := range ps {
		if !esmtpKeyword(p.name) {
			return unknownParam(p, mail)
		}
	}
	return ""
}

// esmtpKeyword reports whether name has the syntax of a parameter
// keyword, RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA /
// DIGIT / "-").
func esmtpKeyword(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return name != ""
}

// maxEnvID is the longest ENVID value RFC 3461 §4.4 allows.
const maxEnvID = 100

// checkParams refuses a keyword given twice (RFC 5321 §4.1.2) and, for
// MAIL, a value on a value-less keyword (REQUIRETLS, RFC 8689 §4.1;
// SMTPUTF8, RFC 6531 §3.4) or an ENVID longer than RFC 3461 §4.4 allows
// (100 characters). go-smtp reads the parameters into a map, so a second
// BODY=, RET= or ENVID= would silently replace the first, and a value on
// a flag would be taken as the flag: a legacy "REQUIRETLS=NO" must not
// become a REQUIRETLS message.
//
// These are checks of the keywords this server knows (knownParam). A line
// with a keyword it does not know is refused whole, 555 5.5.4, for the
// first such keyword in the line's order (unknownParam), before any of
// these checks: an unknown parameter is 555 given once or twice, and a
// 501 "given more than once" for one would tell that the server knows it
// — a shadow verb's parameter where the shadow verbs are unknown
// (shadowVerbs false). go-smtp would refuse such a line too, but it
// reads the parameters into a map and answers for the first it meets in
// the map's order: a line with an unknown keyword and a malformed known
// one got 555 or 501 at random.
func checkParams(ps []mailParam, mail, shadowVerbs bool) string {
	for _, p := range ps {
		// A name that is no esmtp-keyword is no known one either, even
		// where Unicode upper-cases it to one ("ſize" to SIZE, as
		// go-smtp's map would take it): a syntax error (unknownParam;
		// rdfront45).
		if !esmtpKeyword(p.name) || !knownParam(p.key, mail, shadowVerbs) {
			return unknownParam(p, mail)
		}
	}
	for _, p := range ps {
		// esmtp-value = 1*(%d33-60 / %d62-126), RFC 5321 §4.1.2: a
		// second "=" is no value ("SIZE==5", "SIZE=5=5"). Named here as
		// written; go-smtp said only "Unable to parse MAIL ESMTP
		// parameters" (front47 F2).
		if strings.Contains(p.value, "=") {
			return "501 5.5.4 Syntax error in " + paramsVerb(mail) + " parameters: " + echoedParam(p.written()) + ": a value holds no '='"
		}
	}
	var seen map[string]bool // nil: one parameter cannot be given twice
	if len(ps) > 1 {
		seen = make(map[string]bool, len(ps))
	}
	for _, p := range ps {
		if seen[p.key] {
			// The name as the client wrote it, ASCII letters upper-cased,
			// echoed unambiguously (replyecho.go).
			return "501 5.5.4 " + string(echoText(upperASCII(p.name))) + " given more than once"
		}
		if seen != nil {
			seen[p.key] = true
		}
		switch {
		case !mail:
		case (p.key == "REQUIRETLS" || p.key == "SMTPUTF8") && p.hasValue:
			return "501 5.5.4 " + p.key + " takes no value"
		case p.key == "ENVID" && len(p.value) > maxEnvID:
			return "501 5.5.4 ENVID longer than 100 characters"
		}
	}
	return ""
}
