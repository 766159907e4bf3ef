package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

// maxServerID bounds XSHADOW's argument (W-2); maxShadowMsgID bounds the
// XSHADOW= MAIL parameter (W-3).
const (
	maxServerID    = 255
	maxShadowMsgID = 64
)

// verbConn sits between an accepted connection and go-smtp. go-smtp has
// no hook for extra verbs or EHLO keywords, so this layer reads the
// command stream line by line when go-smtp asks for input and:
//   - terminates STARTTLS itself (go-smtp would hide the plaintext below
//     it), and refuses AUTH before TLS where the connector demands it;
//   - answers XSHADOW, XQUERYDISCARD and XQDISCARD itself — go-smtp is idle
//     between commands, so replies never interleave;
//   - strips the XSHADOW= MAIL parameter before go-smtp sees it;
//   - adds STARTTLS and XSHADOW to go-smtp's EHLO reply (and removes AUTH
//     where it may not be offered yet);
//   - takes DATA bodies off go-smtp's hands: after a 354 to DATA it reads
//     the body up to the lone dot itself, unstuffs it in runs (go-smtp's
//     reader goes byte by byte, a third of the CPU of a large message) and
//     gives go-smtp an empty body; the session takes the real one with
//     takeBody. A body with a line over the line limit, or too big to
//     hold, goes to go-smtp byte for byte instead, so that its own rules
//     answer it. BDAT chunks pass through byte for byte.
type verbConn struct {
	tc     *trackedConn // the accepted connection, below TLS
	mu     sync.Mutex   // guards writes to conn
	conn   net.Conn     // tc, or a TLS connection over it
	r      *bufio.Reader
	tlsCfg *tls.Config
	// insecureAuth offers AUTH before STARTTLS (connector allow_insecure).
	insecureAuth bool
	maxLine      int

	tlsOn atomic.Bool
	// certNames are the names in a client certificate the connector's
	// organisation CA verified: the client is then that transport server.
	certNames []string
	pending   []byte // vetted input waiting for go-smtp's Read
	mode      int
	bdatN     int64
	dstate    int    // where DATA's end-of-data scan stands (modeData)
	maxSize   int64  // the connector's max_message_size (go-smtp's MaxMessageBytes)
	raw       []byte // the DATA body so far, as received (fast path)
	lineLen   int    // bytes of raw since its last LF
	through   bool   // this DATA body goes to go-smtp byte for byte
	body      []byte // the unstuffed body of the DATA just ended, for takeBody
	hasBody   bool
	last      string // verb of the last command handed to go-smtp
	ehlo      bool   // go-smtp is writing an EHLO reply
	sasl      bool   // the next line is a SASL response (authpolicy.go)
	saslBad   bool   // a bad SASL response was replaced by "*"
	sess      func() *session
	acks      []discardAck // discard notifications waiting for the peer's next command (SR-15)
}

const (
	modeCommand = iota
	modeData
	modeBDAT
)

func newVerbConn(tc *trackedConn, tlsCfg *tls.Config, insecureAuth bool, maxLine int, maxSize int64) *verbConn {
	v := &verbConn{tc: tc, conn: tc, r: bufio.NewReaderSize(tc, 4096), tlsCfg: tlsCfg, insecureAuth: insecureAuth, maxLine: maxLine, maxSize: maxSize}
	v.sess = func() *session { return tc.sess.Load() }
	tc.vc = v
	return v
}

// Read hands go-smtp the next vetted bytes.
func (v *verbConn) Read(b []byte) (int, error) {
	for len(v.pending) == 0 {
		if err := v.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, v.pending)
	v.pending = v.pending[n:]
	return n, nil
}

func (v *verbConn) fill() error {
	switch v.mode {
	case modeBDAT:
		chunk := v.bdatN
		if chunk > 32<<10 {
			chunk = 32 << 10
		}
		buf := make([]byte, chunk)
		n, err := io.ReadFull(v.r, buf)
		v.pending, v.bdatN = buf[:n], v.bdatN-int64(n)
		if v.bdatN == 0 {
			v.mode = modeCommand
		}
		if n > 0 {
			return nil
		}
		return err
	case modeData:
		return v.fillData()
	}
	line, err := v.readLine()
	if len(line) == 0 {
		return err
	}
	if len(v.acks) > 0 {
		v.peerSpoke(len(line))
	}
	if v.sasl {
		v.pending = v.saslResponse(line)
		return nil
	}
	if len(line) > v.maxLine || !bytes.HasSuffix(line, []byte("\n")) {
		v.pending = line // go-smtp answers over-long lines itself
		return nil
	}
	verb, arg := splitCommand(line)
	switch verb {
	case "STARTTLS":
		if v.tlsCfg != nil {
			v.startTLS(arg)
			return nil
		}
	case "AUTH":
		if v.tlsCfg != nil && !v.tlsOn.Load() && !v.insecureAuth {
			v.reply("538 5.7.11 Encryption required for requested authentication mechanism")
			return nil
		}
		if r := authCommand(arg); r != "" {
			v.reply(r)
			return nil
		}
	case "XSHADOW":
		v.reply(v.xshadow(arg))
		return nil
	case "XQUERYDISCARD", "XQDISCARD":
		if r := v.xqueryDiscard(arg); r != "" {
			v.reply(r)
		}
		return nil
	case "MAIL":
		stripped, reply := v.mailShadowParam(line)
		if reply != "" {
			v.reply(reply)
			return nil
		}
		line = stripped
	case "BDAT":
		if f := strings.Fields(arg); len(f) >= 1 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n > 0 {
				v.mode, v.bdatN = modeBDAT, n
			}
		}
	case "EHLO":
		v.ehlo = true
	case "RCPT":
		line = rcptPostmaster(line, v.sess() != nil && v.sess().srv.postmaster != "")
	}
	v.last = verb
	v.pending = line
	return nil
}

// States of the end-of-data scan. They mirror go-smtp's own data reader
// exactly, so that both agree, byte for byte, where a DATA body ends: only
// CRLF "." CRLF ends it; a bare LF never starts a line.
const (
	dBegin = iota // at the start of a line (after CRLF)
	dDot          // "." at the start of a line
	dDotCR        // ".\r" at the start of a line
	dCR           // "\r" seen
	dData         // inside a line
)

// fillData hands go-smtp everything buffered up to and including the end
// of the DATA body, in as large pieces as are at hand.
func (v *verbConn) fillData() error {
	if v.r.Buffered() == 0 {
		if _, err := v.r.Peek(1); err != nil {
			return err
		}
	}
	buf, _ := v.r.Peek(v.r.Buffered())
	n := len(buf)
	st := v.dstate
scan:
	for i := 0; i < len(buf); i++ {
		c := buf[i]
		switch st {
		case dBegin:
			switch c {
			case '.':
				st = dDot
			case '\r':
				st = dCR
			default:
				st = dData
			}
		case dDot:
			if c == '\r' {
				st = dDotCR
			} else {
				st = dData
			}
		case dDotCR:
			if c == '\n' {
				n, v.mode = i+1, modeCommand
				break scan
			}
			st = dData
		case dCR:
			if c == '\n' {
				st = dBegin
			} else {
				st = dData
			}
		case dData:
			if c == '\r' {
				st = dCR
			} else if j := bytes.IndexByte(buf[i:], '\r'); j < 0 {
				i = len(buf) - 1
			} else {
				i += j - 1 // the loop's i++ lands on the '\r'
			}
		}
	}
	v.dstate = st
	if v.through {
		v.pending = append(v.pending[:0], buf[:n]...)
		_, err := v.r.Discard(n)
		return err
	}
	// The fast path: keep the body here until its end.
	chunk := buf[:n]
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			v.lineLen += len(chunk)
			break
		}
		if v.maxLine > 0 && v.lineLen+i+1 > v.maxLine {
			v.lineLen = v.maxLine + 1
			break
		}
		v.lineLen, chunk = 0, chunk[i+1:]
	}
	v.raw = append(v.raw, buf[:n]...)
	if _, err := v.r.Discard(n); err != nil {
		return err
	}
	if v.maxLine > 0 && v.lineLen > v.maxLine || v.maxSize > 0 && int64(len(v.raw)) > v.maxSize+v.maxSize/8+4096 {
		// go-smtp's own rules answer this one: give it every byte.
		v.through = true
		v.pending = append(v.pending[:0], v.raw...)
		v.raw = v.raw[:0]
		return nil
	}
	if v.mode == modeCommand { // the end of the body is in raw
		// Unstuffed in place: the body only ever shrinks. The session
		// copies it out before go-smtp reads the next command, so the
		// next DATA may reuse the buffer.
		v.body, v.hasBody = unstuffData(v.raw[:0], v.raw), true
		if cap(v.raw) > 1<<20 {
			v.raw = nil // do not hold a large buffer for the next message
		} else {
			v.raw = v.raw[:0]
		}
		v.pending = append(v.pending[:0], ".\r\n"...)
	}
	return nil
}

// takeBody returns the body of the DATA that just ended, when the fast
// path read it (false: go-smtp's reader has it).
func (v *verbConn) takeBody() ([]byte, bool) {
	b, ok := v.body, v.hasBody
	v.body, v.hasBody = nil, false
	return b, ok
}

// unstuffData appends to dst the message in a DATA body as received, up
// to and including its end marker: exactly what go-smtp's data reader
// yields (FuzzUnstuffData holds the two equal), but copying runs of
// bytes. Like go-smtp it keeps CRLF line ends and drops a line's leading
// dot, and ".\r" followed by anything but LF loses both. dst may be
// raw[:0]: the output never overtakes the input.
func unstuffData(dst, raw []byte) []byte {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
		eof
	)
	out := dst
	st := beginLine
	for i := 0; i < len(raw) && st != eof; {
		c := raw[i]
		switch st {
		case beginLine:
			if c == '.' {
				st, i = dot, i+1
				continue
			}
			if c == '\r' {
				st = cr
			} else {
				st = data
			}
		case dot:
			if c == '\r' {
				st, i = dotCR, i+1
				continue
			}
			st = data
		case dotCR:
			if c == '\n' {
				st, i = eof, i+1
				continue
			}
			st = data
		case cr:
			if c == '\n' {
				st = beginLine
			} else {
				st = data
			}
		case data:
			// Copy the run up to the next CR in one go.
			j := bytes.IndexByte(raw[i:], '\r')
			if j < 0 {
				return append(out, raw[i:]...)
			}
			if j > 0 {
				out, i = append(out, raw[i:i+j]...), i+j
				continue
			}
			st = cr
		}
		out, i = append(out, c), i+1
	}
	return out
}

// readLine reads one line including its CRLF, at most maxLine+2 bytes
// (a longer line is returned in pieces; go-smtp rejects it).
func (v *verbConn) readLine() ([]byte, error) {
	var out []byte
	for {
		frag, err := v.r.ReadSlice('\n')
		out = append(out, frag...)
		if err == bufio.ErrBufferFull && len(out) <= v.maxLine+2 {
			continue
		}
		if err == bufio.ErrBufferFull {
			return out, nil
		}
		return out, err
	}
}

func splitCommand(line []byte) (verb, arg string) {
	s := strings.TrimRight(string(line), "\r\n")
	verb, arg, _ = strings.Cut(s, " ")
	return strings.ToUpper(verb), strings.TrimSpace(arg)
}

// Write passes go-smtp's replies on, editing its EHLO reply and noticing
// the 354 that starts a DATA body.
func (v *verbConn) Write(b []byte) (int, error) {
	if done, err := v.saslReply(b); done {
		return len(b), err
	}
	if v.ehlo && bytes.HasPrefix(b, []byte("250")) {
		return v.writeEHLO(b)
	}
	if v.last == "DATA" && bytes.HasPrefix(b, []byte("354")) {
		v.mode, v.dstate = modeData, dBegin
		v.raw, v.lineLen, v.through, v.body, v.hasBody = v.raw[:0], 0, false, nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.conn.Write(b)
}

func (v *verbConn) writeEHLO(b []byte) (int, error) {
	line := strings.TrimRight(string(b), "\r\n")
	final := len(line) > 3 && line[3] == ' '
	kw := strings.ToUpper(line[min(4, len(line)):])
	var out bytes.Buffer
	switch {
	case strings.HasPrefix(kw, "AUTH ") && v.tlsCfg != nil && !v.tlsOn.Load() && !v.insecureAuth:
		// AUTH is offered only after STARTTLS here.
	case final:
		v.ehlo = false
		if v.tlsCfg != nil && !v.tlsOn.Load() {
			out.WriteString("250-STARTTLS\r\n")
		}
		if s := v.sess(); s != nil && s.xshadowKeyword() != "" {
			out.WriteString("250-" + s.xshadowKeyword() + "\r\n")
		}
		out.Write(b)
	default:
		out.Write(b)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if out.Len() > 0 {
		if _, err := v.conn.Write(out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// reply writes one of the layer's own replies.
func (v *verbConn) reply(lines ...string) {
	var out bytes.Buffer
	for _, l := range lines {
		out.WriteString(l + "\r\n")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	v.conn.Write(out.Bytes())
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
	case v.r.Buffered() > 0:
		// Commands pipelined after STARTTLS would cross the handshake.
		v.reply("503 5.5.1 STARTTLS must be the last command of a group")
		return
	}
	v.reply("220 2.0.0 Ready to start TLS")
	v.mu.Lock()
	tc := tls.Server(v.tc, v.tlsCfg)
	tc.SetDeadline(time.Now().Add(time.Minute))
	err := tc.Handshake()
	tc.SetDeadline(time.Time{})
	if err != nil {
		v.mu.Unlock()
		v.tc.Close() // the stream is in an unknown state: end it
		return
	}
	v.conn, v.r = tc, bufio.NewReaderSize(tc, 4096)
	v.tlsOn.Store(true)
	v.mu.Unlock()
	var names []string
	if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 {
		cert := st.PeerCertificates[0]
		names = append(append(names, cert.DNSNames...), cert.Subject.CommonName)
	}
	v.certNames = names
	if s := v.sess(); s != nil {
		s.forgetAfterTLS()
	}
	// go-smtp must forget the transaction and greeting too: the client
	// sends EHLO again, which go-smtp treats as a reset.
}

// xshadow answers XSHADOW <server-id> (W-2).
func (v *verbConn) xshadow(arg string) string {
	s := v.sess()
	switch {
	case s == nil:
		return "503 5.5.1 Send EHLO first"
	case !s.advertiseXShadow():
		return "503 5.5.1 XSHADOW not available"
	case arg == "" || len(arg) > maxServerID || strings.ContainsAny(arg, " \t"):
		return "501 5.5.4 Syntax: XSHADOW <server-id>"
	case s.busy.Load():
		return "503 5.5.1 XSHADOW not allowed during a mail transaction"
	}
	return s.startShadow(arg)
}

// xqueryDiscard answers XQUERYDISCARD <max> (W-4).
func (v *verbConn) xqueryDiscard(arg string) string {
	s := v.sess()
	if s == nil || s.shadowServer == "" {
		return "503 5.5.1 XSHADOW first"
	}
	max, wait, ok := s.parseDiscardArgs(arg)
	if !ok {
		return "501 5.5.4 Syntax: XQUERYDISCARD <max> [WAIT=<seconds>], max a positive integer"
	}
	s.waitDiscards(wait)
	ids, ack := s.srv.shadow.Discards(s.shadowServer, max)
	if len(ids) == 0 {
		return "250 2.0.0 0 discard notifications"
	}
	lines := []string{fmt.Sprintf("250-2.0.0 %d discard notifications", len(ids))}
	for i, id := range ids {
		sep := "-"
		if i == len(ids)-1 {
			sep = " "
		}
		lines = append(lines, "250"+sep+id)
	}
	if err := v.writeReply(lines...); err != nil {
		s.log.Info("discard notifications not delivered; they will be sent again", "shadow_server", s.shadowServer, "err", err)
		return ""
	}
	v.deferAck(ack) // forgotten once the peer speaks again
	s.srv.obs.DiscardsSent(len(ids))
	s.log.Debug("discard notifications sent", "shadow_server", s.shadowServer, "count", len(ids))
	return ""
}

// mailShadowParam removes XSHADOW=<id> from a MAIL command and gives it
// to the session (W-3).
func (v *verbConn) mailShadowParam(line []byte) ([]byte, string) {
	s := strings.TrimRight(string(line), "\r\n")
	fields := strings.Split(s, " ")
	var keep []string
	id, found := "", false
	for _, f := range fields {
		if k, val, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "XSHADOW") {
			id, found = val, true
			continue
		}
		keep = append(keep, f)
	}
	if !found {
		if ss := v.sess(); ss != nil {
			ss.pendingShadowID = ""
		}
		return line, ""
	}
	ss := v.sess()
	switch {
	case ss == nil || ss.shadowServer == "":
		return nil, "503 5.5.1 XSHADOW parameter outside a shadow session"
	case !validShadowID(id):
		return nil, "501 5.5.4 XSHADOW= needs an id of 1 to 64 characters [A-Za-z0-9._-]"
	}
	ss.pendingShadowID = id
	return []byte(strings.Join(keep, " ") + "\r\n"), ""
}

func validShadowID(id string) bool {
	if id == "" || len(id) > maxShadowMsgID {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// net.Conn methods go to the current transport.
func (v *verbConn) Close() error                       { return v.conn.Close() }
func (v *verbConn) LocalAddr() net.Addr                { return v.tc.LocalAddr() }
func (v *verbConn) RemoteAddr() net.Addr               { return v.tc.RemoteAddr() }
func (v *verbConn) SetDeadline(t time.Time) error      { return v.conn.SetDeadline(t) }
func (v *verbConn) SetReadDeadline(t time.Time) error  { return v.conn.SetReadDeadline(t) }
func (v *verbConn) SetWriteDeadline(t time.Time) error { return v.conn.SetWriteDeadline(t) }
