package milter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"umbra/internal/mailaddr"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/smtp"
)

// Check is one configured milter of a receive connector: an edge check
// (internal/smtp filter.go) that opens one milter connection per SMTP
// session and sends it every stage at its time.
type Check struct {
	cfg      config.Milter
	network  string
	address  string
	failOpen bool
	maxLine  int // SetMaxLineLength
	// maxHeader is transport.max_header_size (SetMaxHeaderSize).
	maxHeader int64
	// maxSize is the connector's max_message_size (SetMaxMessageSize).
	maxSize  int64
	hostname string
	log      *slog.Logger
	met      *Metrics
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	// lookup finds the addresses of an inet: host name when the milter
	// is connected to: the server's resolver (SetLookupHost), the
	// system's only where none is given (a check outside the daemon).
	lookup func(ctx context.Context, host string) ([]string, error)
	// episode is whether the milter is failing: from a failure of its
	// own (not a session that ended) to the next verdict it gives. Each
	// failure is noted per message on the front door's paced refusal
	// log at INFO; the episode is told once at WARN (failing), its end
	// at INFO (answered), so an operator who reads warnings still learns
	// that the milter is down for every message.
	episode struct {
		sync.Mutex
		failing  bool
		failures int
	}
}

// failing counts a failure of the milter's (fail): the first since it
// last answered is written at WARN.
func (c *Check) failing(stage, reason string, err error, policy string) {
	if reason == "cancelled" {
		return // the session ended or its time ran out: no word of the milter's health
	}
	c.episode.Lock()
	first := !c.episode.failing
	c.episode.failing = true
	c.episode.failures++
	c.episode.Unlock()
	if first {
		c.log.Warn("milter failing; its failure policy answers, each message's failure is noted on the refusal log until it answers again",
			"stage", stage, "reason", reason, "err", err, "on_failure", policy)
	}
}

// answered ends an episode of failures (failing): the milter gave a
// verdict.
func (c *Check) answered() {
	c.episode.Lock()
	was, n := c.episode.failing, c.episode.failures
	c.episode.failing, c.episode.failures = false, 0
	c.episode.Unlock()
	if was {
		c.log.Info("milter answering again", "failures", n)
	}
}

// SetLookupHost sets how an inet: host name is looked up: the server's
// resolver (the dns section, its hosts_file first), as every lookup of
// the server is (EDGE "DNS done once").
func (c *Check) SetLookupHost(f func(ctx context.Context, host string) ([]string, error)) {
	c.lookup = f
}

// New makes the check of one configured milter. hostname is the
// server's name ($j); met may be nil.
// SetMaxLineLength sets the connector's max_line_length (CRLF
// included): a replacement body with a longer line is a milter failure,
// as a client's body with one is refused. 0: no bound.
func (c *Check) SetMaxLineLength(n int) { c.maxLine = n }

// SetMaxHeaderSize sets transport.max_header_size: a milter's header
// edits may not make the header section larger than a client's may be.
func (c *Check) SetMaxHeaderSize(n int64) { c.maxHeader = n }

// SetMaxMessageSize sets the connector's max_message_size: a milter's
// replacement body may not make the message larger than a client's may
// be (a milter failure, found as the chunks arrive). 0: no bound but
// maxReplacedBody.
func (c *Check) SetMaxMessageSize(n int64) { c.maxSize = n }

// replacedLimit is the most a message with a replaced body may hold.
func (c *Check) replacedLimit() (int64, string) {
	if c.maxSize > 0 {
		return c.maxSize, "max_message_size"
	}
	return maxReplacedBody, "the replacement bound"
}

// longestLine is the length of b's longest line, its CRLF included.
func longestLine(b []byte) int {
	longest := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return max(longest, len(b)+2) // a last line without its end gets a CRLF when relayed
		}
		longest = max(longest, i+1)
		b = b[i+1:]
	}
	return longest
}

func New(cfg config.Milter, hostname string, log *slog.Logger, met *Metrics) (*Check, error) {
	network, address, err := config.MilterAddress(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("milter %s: %w", cfg.Name, err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(discard{}, nil))
	}
	c := &Check{cfg: cfg, network: network, address: address, failOpen: cfg.OnFailure == config.MilterOnFailureAccept,
		hostname: hostname, log: log.With("milter", cfg.Name), met: met}
	d := net.Dialer{Timeout: cfg.ConnectTimeout.D()}
	c.lookup = net.DefaultResolver.LookupHost
	c.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if network != "tcp" || err != nil || net.ParseIP(host) != nil {
			return d.DialContext(ctx, network, addr)
		}
		// An inet: host name: its addresses looked up here, each
		// tried in order with its share of connect_timeout
		// (config.DialAddrs), as Go's dialer of the name gives it. The unspecified address (0.0.0.0, ::) is
		// refused at load as a literal; resolved from a name it is
		// never connected to either — it reaches this machine itself,
		// not the milter —, and a name with no other fails the connect
		// naming it (config.UnspecifiedNameError).
		addrs, err := c.lookup(ctx, host) // read at each connect: SetLookupHost may follow New
		if err != nil {
			return nil, err
		}
		addrs, dropped := config.DropUnspecified(addrs)
		if len(addrs) == 0 && dropped != "" {
			return nil, &config.UnspecifiedNameError{Host: host, Addr: dropped}
		}
		return config.DialAddrs(ctx, &d, "tcp", host, addrs, port)
	}
	return c, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Name is the check's name in logs and metrics.
func (c *Check) Name() string { return "milter " + c.cfg.Name }

// Open starts the check's state for one SMTP session; the connection
// to the milter is made at the Connect stage.
func (c *Check) Open(ctx context.Context, info *smtp.ConnInfo) smtp.CheckSession {
	s := &session{c: c, ctx: ctx, macros: map[string]string{
		"j":             c.hostname,
		"{daemon_name}": info.Connector,
		"v":             "umbra",
		"{client_addr}": info.IP.String(),
		"{client_port}": strconv.Itoa(int(info.Port)),
		"{client_name}": "unknown",
		"_":             "unknown [" + info.IP.String() + "]",
	}}
	return s
}

// session is one SMTP session's conversation with the milter. The SMTP
// session calls it from its own goroutine only.
type session struct {
	c      *Check
	ctx    context.Context
	conn   net.Conn
	br     *bufio.Reader
	stop   func() bool // ends the context watch
	neg    negotiation
	macros map[string]string

	// info and helo are the session's connect and HELO events, sent
	// again on each message's new connection (Mail after quit).
	info     *smtp.ConnInfo
	helo     string
	heloSent bool
	quitted  bool // the last message's connection was closed by quit: the next MAIL opens one

	failed bool // the milter failed: its failure policy answers
	// notes are the failures not yet told (note): the next verdict the
	// session gives carries them to the front door's rate-limited
	// refusal log (smtp Verdict.Noted).
	notes    []smtp.Noted
	done     bool // the milter accepted the session: it hears no more
	msgDone  bool // the milter decided the message: no more events for it
	inTx     bool // MAIL was sent and the message not ended: an abort is owed
	skipRcpt bool // the milter said SKIP at RCPT
}

func (s *session) Name() string { return s.c.Name() }

// Replies umbra gives for a milter's plain actions.
var (
	replyTempfail = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Service unavailable - try again later"}
	replyRejectCx = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Access denied"}
	replyReject   = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Command rejected"}
	replyRejectMs = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Message content rejected"}
)

// Stages, as metrics and logs name them.
const (
	stConnect = "connect"
	stHelo    = "helo"
	stMail    = "mail"
	stRcpt    = "rcpt"
	stData    = "data"
	stHeader  = "header"
	stEOH     = "eoh"
	stBody    = "body"
	stEOM     = "eom"
	stAbort   = "abort"
	stQuit    = "quit" // the session's end: only a reply where none may come fails here
)

// fail closes the milter connection after an error and returns what the
// failure policy answers: 451 4.7.1 now and for the rest of the
// session, or nothing (the milter is left out).
func (s *session) fail(stage string, err error) smtp.Verdict {
	policy := config.MilterOnFailureTempfail
	if s.c.failOpen {
		policy = config.MilterOnFailureAccept
	}
	reason := "io"
	var ne net.Error
	switch {
	case errors.Is(err, errProtocol):
		reason = "protocol"
	case s.ctx != nil && s.ctx.Err() != nil:
		// The session ended or its checks' time ran out (s.ctx sets the
		// connection's deadline in the past): not the milter's slowness.
		reason = "cancelled"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		reason = "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		reason = "cancelled" // the session ended or its checks' time ran out
	case stage == stConnect && s.conn == nil:
		reason = "connect"
	}
	// Noted, not a WARN line per message (words49 item 3): a broken
	// milter fails every message, and any client could write the log
	// without bound. The front door writes it on its rate-limited
	// refusal log, with the message's id at the end of data.
	var would *gosmtp.SMTPError
	if !s.c.failOpen {
		would = replyTempfail
	}
	s.note(smtp.Noted{Msg: "milter failed", Reason: "milter_" + reason, Reply: would,
		Attrs: []any{"milter_stage", stage, "err", err, "on_failure", policy}})
	s.c.met.failure(s.c.cfg.Name, stage, reason)
	s.c.failing(stage, reason, err, policy)
	s.closeConn()
	s.failed = true
	return s.failVerdict()
}

// note keeps n for the next verdict the session gives (noted); the
// milter's name is added there (the Check's own logger, Close's, has it).
func (s *session) note(n smtp.Noted) { s.notes = append(s.notes, n) }

// noted is v with the failures not yet told: every verdict of the
// session's goes through it (a deferred call in each stage), so a
// failure at a step that gives none — the abort of a transaction
// (Reset), the quit after a message's verdict — is told with the next
// one. One at the session's end (Close: the abort of its last
// transaction, the quit of a milter that accepted the session) has no
// verdict left to go with: Close writes it at WARN, once per session as
// before — counted too (umbra_milter_failures_total).
func (s *session) noted(v *smtp.Verdict) {
	for _, n := range s.notes {
		n.Attrs = append([]any{"milter", s.c.cfg.Name}, n.Attrs...)
		v.Noted = append(v.Noted, n)
	}
	s.notes = nil
}

func (s *session) failVerdict() smtp.Verdict {
	if s.c.failOpen {
		return smtp.Verdict{}
	}
	return smtp.Verdict{Reply: replyTempfail}
}

func (s *session) closeConn() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// send writes one packet (with the stage's macros before it when
// there are any) under timeout. Nothing may be waiting from the milter
// then: every reply it owed was read, so a byte already there is a
// reply where none may come (unasked).
func (s *session) send(code byte, data []byte, macroStage int, timeout bound) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if err := s.unasked(); err != nil {
		return err
	}
	var b []byte
	if macroStage >= 0 {
		b = s.appendMacros(b, code, macroStage)
	}
	b = appendPacket(b, code, data)
	s.conn.SetDeadline(s.deadline(timeout.d))
	if _, err := s.conn.Write(b); err != nil {
		return s.noReply(err, "the milter took nothing sent", timeout)
	}
	return nil
}

// deadline is d from now for the connection to the milter, never past
// the session context's deadline, and in the past once the context
// ended: a deadline set after the context's end (the QUIT at the
// session's end, a command after it) overwrote the past one its watch
// (open: AfterFunc) had set, and the connection waited out d (SMTP-1).
func (s *session) deadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if s.ctx == nil {
		return t
	}
	if s.ctx.Err() != nil {
		return time.Unix(1, 0)
	}
	if limit, ok := s.ctx.Deadline(); ok && limit.Before(t) {
		return limit
	}
	return t
}

// await reads the milter's reply, past progress notes. Each note
// restarts the timeout, but never past maxProgress
// timeouts from the start: a milter cannot hold a session for ever.
func (s *session) await(timeout bound) (reply, error) {
	limit := time.Now().Add(maxProgress * timeout.d)
	for {
		s.conn.SetDeadline(minTime(s.deadline(timeout.d), limit))
		p, err := readPacket(s.br)
		if err != nil {
			return reply{}, s.noReply(err, "no reply", timeout)
		}
		r, err := parseReply(p)
		if err != nil {
			return r, err
		}
		if r.code != repProgress {
			return r, nil
		}
	}
}

// noReply says in words why a read (or a write) timed out: the
// milter's time (timeout) ran out — what did not come within it, the
// time and the setting ("no reply within 10s (eom_timeout)") — or the
// session ended or its checks' time ran out (s.ctx, which sets the
// connection's deadline in the past); never the error the socket gave
// the read or write the deadline cut ("read tcp …: i/o timeout"), which
// says neither (TestMilterStepTimeoutSaidInWords).
func (s *session) noReply(err error, what string, timeout bound) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return err
	}
	if s.ctx != nil && s.ctx.Err() != nil {
		return fmt.Errorf("cut off waiting for a reply: %w", context.Cause(s.ctx))
	}
	return &stepTimeout{fmt.Sprintf("%s within %s (%s)", what, timeout.d, timeout.key)}
}

// bound is a step's time limit and the setting it comes from.
type bound struct {
	d   time.Duration
	key string
}

// commandBound bounds the negotiation and each envelope event.
func (c *Check) commandBound() bound {
	return bound{c.cfg.CommandTimeout.D(), "command_timeout"}
}

// stepTimeout is a step the milter did not finish within its bound, in
// words: a timeout (net.Error) for the failure's reason, with none of
// the socket's text.
type stepTimeout struct{ msg string }

func (e *stepTimeout) Error() string   { return e.msg }
func (e *stepTimeout) Timeout() bool   { return true }
func (e *stepTimeout) Temporary() bool { return true }

// unasked is a protocol error when the milter has sent anything umbra
// has not asked for yet: a second reply to one event, a reply to a macro
// packet or to an event negotiated as taking none. Read as the answer
// to the next event, it would shift every later reply by one, and the
// end of message would take a stale "continue" for the verdict (rt57
// M3). It looks at what the reader holds and, without blocking, at the
// socket (pendingInput). A stray reply that arrives only after umbra sent
// the next event cannot be told from that event's answer; it is caught
// at the next event or once the end-of-message verdict is read.
func (s *session) unasked() error {
	if s.br.Buffered() > 0 || pendingInput(s.conn) {
		return protoErr("a reply where none may come")
	}
	return nil
}

// maxProgress bounds how far progress notes stretch one reply's wait,
// in timeouts.
const maxProgress = 4

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// event sends one event and, unless the milter negotiated no reply,
// reads the reply: a plain action (a modification is a protocol error
// here; SKIP only where skip allows it).
func (s *session) event(code byte, data []byte, macroStage int, timeout bound, noReply bool, skip bool) (reply, error) {
	if err := s.send(code, data, macroStage, timeout); err != nil {
		return reply{}, err
	}
	if noReply {
		return reply{code: repContinue}, nil
	}
	r, err := s.await(timeout)
	if err != nil {
		return r, err
	}
	switch r.code {
	case repAccept, repContinue, repDiscard, repReject, repTempfail, repReplyCode:
	case repSkip:
		if !skip || s.neg.protocol&protoSkip == 0 {
			return r, protoErr("SKIP where it is not allowed")
		}
	default:
		return r, protoErr("reply %q to an event", r.code)
	}
	return r, nil
}

// defaultMacros are the macros sent at each stage when the milter
// names none (SMFIF_SETSYMLIST): the macros milters commonly expect at
// each stage, and the client's address.
var defaultMacros = map[int][]string{
	stageConnect: {"j", "{daemon_name}", "v", "_", "{client_addr}", "{client_port}", "{client_name}"},
	stageHelo:    {"{client_addr}"},
	stageMail:    {"i", "{auth_authen}", "{mail_addr}"},
	stageRcpt:    {"i", "{rcpt_addr}"},
	stageData:    {"i"},
	stageEOH:     {"i"},
	stageEOM:     {"i"},
}

// appendMacros encodes an SMFIC_MACRO packet for the event code with
// the stage's macros that have a value; nothing when none has.
func (s *session) appendMacros(b []byte, code byte, stage int) []byte {
	names, ok := s.neg.macros[uint32(stage)]
	if !ok {
		names = defaultMacros[stage]
	}
	data := []byte{code}
	for _, n := range names {
		v, ok := s.macros[n]
		if !ok {
			v, ok = s.macros[altMacroName(n)]
		}
		if !ok || v == "" {
			continue
		}
		data = appendCString(data, n)
		data = appendCString(data, v)
	}
	if len(data) == 1 {
		return b
	}
	return appendPacket(b, cmdMacro, data)
}

// altMacroName maps "i" to "{i}" and back: milters ask for either.
func altMacroName(n string) string {
	if strings.HasPrefix(n, "{") && strings.HasSuffix(n, "}") && len(n) == 3 {
		return n[1:2]
	}
	if len(n) == 1 {
		return "{" + n + "}"
	}
	return n
}

// verdict maps a plain action at a stage to the session's verdict.
func (s *session) verdict(stage string, r reply) smtp.Verdict {
	s.c.met.reply(s.c.cfg.Name, stage, r.code)
	if r.code != repContinue || stage == stEOM {
		s.c.answered() // a verdict: an episode of failures (failing) is over
	}
	envelope := stage == stConnect || stage == stHelo
	switch r.code {
	case repAccept:
		if envelope {
			s.done = true
		} else {
			s.msgDone = true
		}
	case repDiscard:
		if !envelope {
			s.msgDone = true
		}
		return smtp.Verdict{Discard: true}
	case repReject:
		switch {
		case envelope:
			return smtp.Verdict{Reply: replyRejectCx}
		case stage == stMail || stage == stRcpt:
			return smtp.Verdict{Reply: replyReject}
		}
		s.msgDone = true
		return smtp.Verdict{Reply: replyRejectMs}
	case repTempfail:
		if !envelope && stage != stRcpt {
			s.msgDone = true
		}
		return smtp.Verdict{Reply: replyTempfail}
	case repReplyCode:
		if !envelope && stage != stRcpt {
			s.msgDone = true
		}
		return smtp.Verdict{Reply: r.smtp}
	}
	return smtp.Verdict{}
}

// Connect opens the milter connection, negotiates, and sends the
// connect event.
func (s *session) Connect(ctx context.Context, info *smtp.ConnInfo) (v smtp.Verdict) {
	defer s.noted(&v)
	if s.failed {
		return s.greetingFailed(info)
	}
	s.info = info
	if v := s.open(ctx, info); !s.failed || v.Reply != replyTempfail {
		return v
	}
	return s.greetingFailed(info)
}

// greetingFailed is the verdict on a greeting (connect, HELO) of a
// session whose milter failed: on_failure's, but for a transport server
// of the organisation — or a client at a server's address, which may be
// one and must reach its AUTH —, whose greeting passes: a session it
// opens carries more than mail (its shadow verbs: heartbeats, discard
// notifications, the copies it pushes, which its primary's checks
// judged), and refused at EHLO while the milter is down, its copies
// went nowhere and its heartbeats failed until holders took over
// messages their primary still delivers (avail40). The milter stays
// failed for the session: its MAIL, RCPT and end of data still meet
// on_failure, so nothing it sends for delivery here passes unchecked.
func (s *session) greetingFailed(info *smtp.ConnInfo) smtp.Verdict {
	if info != nil && (info.Server || info.ServerAddress) {
		return smtp.Verdict{}
	}
	return s.failVerdict()
}

// open makes a connection to the milter, negotiates and sends the
// connect event: at the session's start, and for each later message.
func (s *session) open(ctx context.Context, info *smtp.ConnInfo) smtp.Verdict {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, s.c.cfg.ConnectTimeout.D())
	conn, err := s.c.dial(dctx, s.c.network, s.c.address)
	cancel()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(start) >= s.c.cfg.ConnectTimeout.D()*9/10 &&
			ctx.Err() == nil && (s.ctx == nil || s.ctx.Err() == nil) {
			// connect_timeout ran out, not the session (nor a lookup of
			// the milter's name that timed out sooner on its own): said
			// so, never as the dialer's "dial tcp …: i/o timeout".
			err = &stepTimeout{fmt.Sprintf("no connection within %s (connect_timeout)", s.c.cfg.ConnectTimeout.D())}
		}
		return s.fail(stConnect, err)
	}
	s.conn, s.br = conn, bufio.NewReader(conn)
	s.stop = context.AfterFunc(s.ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if err := s.negotiate(); err != nil {
		return s.fail(stConnect, err)
	}
	if s.neg.protocol&protoNoConnect != 0 {
		s.conn.SetDeadline(s.deadline(s.c.cfg.CommandTimeout.D()))
		if _, err := s.conn.Write(s.appendMacros(nil, cmdConnect, stageConnect)); err != nil {
			return s.fail(stConnect, s.noReply(err, "the milter took nothing sent", s.c.commandBound()))
		}
		return smtp.Verdict{}
	}
	data := appendCString(nil, s.macros["{client_name}"])
	if info.IP.Is4() || info.IP.Is4In6() {
		data = append(data, '4')
	} else {
		data = append(data, '6')
	}
	data = binary.BigEndian.AppendUint16(data, info.Port)
	data = appendCString(data, info.IP.Unmap().String())
	r, err := s.event(cmdConnect, data, stageConnect, s.c.commandBound(), s.neg.protocol&protoNRConnect != 0, false)
	if err != nil {
		return s.fail(stConnect, err)
	}
	return s.verdict(stConnect, r)
}

func (s *session) negotiate() error {
	data := binary.BigEndian.AppendUint32(nil, protocolVersion)
	data = binary.BigEndian.AppendUint32(data, offeredActions)
	data = binary.BigEndian.AppendUint32(data, offeredProtocol)
	if err := s.send(cmdOptNeg, data, -1, s.c.commandBound()); err != nil {
		return err
	}
	s.conn.SetDeadline(s.deadline(s.c.cfg.CommandTimeout.D()))
	p, err := readPacket(s.br)
	if err != nil {
		return s.noReply(err, "no reply to the option negotiation", s.c.commandBound())
	}
	s.neg, err = parseOptNeg(p)
	if err != nil {
		return err
	}
	if s.neg.ignored != 0 && s.c.log.Enabled(context.Background(), slog.LevelDebug) {
		s.c.log.Debug("milter asked for actions umbra does not offer; they will be ignored", "actions", fmt.Sprintf("%#x", s.neg.ignored))
	}
	return nil
}

// active: the milter takes part in this session's stages.
func (s *session) active() bool { return s.conn != nil && !s.failed && !s.done }

// GreetingOnce implements smtp.GreetingOnce: the milter gets its HELO
// event at the greeting that makes the session only (a later EHLO may
// come inside a transaction, where a HELO event has no place).
func (s *session) GreetingOnce() {}

func (s *session) Helo(ctx context.Context, info *smtp.ConnInfo, name string) (v smtp.Verdict) {
	defer s.noted(&v)
	if s.failed {
		return s.greetingFailed(info)
	}
	if !s.active() {
		return smtp.Verdict{}
	}
	s.helo, s.heloSent = name, true
	if v := s.sendHelo(); !s.failed || v.Reply != replyTempfail {
		return v
	}
	return s.greetingFailed(info)
}

// sendHelo sends the HELO event of the session's greeting.
func (s *session) sendHelo() smtp.Verdict {
	if s.neg.protocol&protoNoHelo != 0 {
		return smtp.Verdict{}
	}
	r, err := s.event(cmdHelo, appendCString(nil, s.helo), stageHelo, s.c.commandBound(), s.neg.protocol&protoNRHelo != 0, false)
	if err != nil {
		return s.fail(stHelo, err)
	}
	return s.verdict(stHelo, r)
}

func (s *session) Mail(ctx context.Context, info *smtp.ConnInfo, from string, opts *gosmtp.MailOptions) (v smtp.Verdict) {
	defer s.noted(&v)
	if s.failed {
		return s.failVerdict()
	}
	if s.quitted && !s.done {
		// The last message's connection ended with its verdict: this
		// message gets its own, which hears the session's connect and
		// HELO events again. A verdict other than continue there
		// answers this MAIL.
		s.quitted = false
		v := s.open(ctx, s.info)
		if v.Reply == nil && !v.Discard && s.active() && s.heloSent {
			v = s.sendHelo()
		}
		if v.Reply != nil || v.Discard {
			// Refused (or discarding) at connect or HELO: this
			// connection is done; the next MAIL asks on a new one.
			if s.conn != nil && !s.failed && !s.done {
				s.quit()
				s.quitted = true
			}
			return v
		}
		if !s.active() {
			return v
		}
	}
	if !s.active() {
		return smtp.Verdict{}
	}
	s.msgDone, s.skipRcpt, s.inTx = false, false, true
	delete(s.macros, "i")
	s.macros["{mail_addr}"] = from
	s.macros["{auth_authen}"] = info.User
	if s.neg.protocol&protoNoMail != 0 {
		return smtp.Verdict{}
	}
	data := appendCString(nil, "<"+from+">")
	for _, a := range mailArgs(opts) {
		data = appendCString(data, a)
	}
	r, err := s.event(cmdMail, data, stageMail, s.c.commandBound(), s.neg.protocol&protoNRMail != 0, false)
	if err != nil {
		return s.fail(stMail, err)
	}
	return s.verdict(stMail, r)
}

// mailArgs are MAIL's ESMTP parameters as the client gave them.
func mailArgs(o *gosmtp.MailOptions) []string {
	if o == nil {
		return nil
	}
	var a []string
	if o.Size > 0 {
		a = append(a, "SIZE="+strconv.FormatInt(o.Size, 10))
	}
	if o.Body != "" {
		a = append(a, "BODY="+string(o.Body))
	}
	if o.UTF8 {
		a = append(a, "SMTPUTF8")
	}
	if o.Return != "" {
		a = append(a, "RET="+string(o.Return))
	}
	if o.EnvelopeID != "" {
		a = append(a, "ENVID="+o.EnvelopeID)
	}
	if o.Auth != nil {
		a = append(a, "AUTH=<"+*o.Auth+">")
	}
	return a
}

func (s *session) Rcpt(ctx context.Context, info *smtp.ConnInfo, from, to string) (v smtp.Verdict) {
	defer s.noted(&v)
	if s.failed {
		return s.failVerdict()
	}
	if !s.active() || s.msgDone || s.skipRcpt {
		return smtp.Verdict{}
	}
	s.macros["{rcpt_addr}"] = to
	if s.neg.protocol&protoNoRcpt != 0 {
		return smtp.Verdict{}
	}
	r, err := s.event(cmdRcpt, appendCString(nil, "<"+to+">"), stageRcpt, s.c.commandBound(), s.neg.protocol&protoNRRcpt != 0, true)
	if err != nil {
		return s.fail(stRcpt, err)
	}
	if r.code == repSkip {
		s.c.met.reply(s.c.cfg.Name, stRcpt, r.code)
		s.skipRcpt = true
		return smtp.Verdict{}
	}
	return s.verdict(stRcpt, r)
}

// Data replays the message to the milter — DATA, each header field, end
// of headers, the body in chunks, end of message — and applies the
// modifications it answers with when it accepts.
func (s *session) Data(ctx context.Context, info *smtp.ConnInfo, t *smtp.Transaction) (v smtp.Verdict) {
	defer s.noted(&v)
	v = s.data(ctx, t)
	if s.conn != nil && !s.failed && !s.done {
		// The milter decided the message: its connection ends here
		// (quit), and the next message opens one of its own.
		s.quit()
		s.quitted = true
	}
	s.inTx = false
	return v
}

func (s *session) data(ctx context.Context, t *smtp.Transaction) smtp.Verdict {
	if s.failed {
		return s.failVerdict()
	}
	if !s.active() || s.msgDone {
		return smtp.Verdict{}
	}
	s.macros["i"] = t.QueueID
	p := s.neg.protocol
	if p&protoNoData == 0 {
		r, err := s.event(cmdData, nil, stageData, s.c.commandBound(), p&protoNRData != 0, false)
		if err != nil {
			return s.fail(stData, err)
		}
		if r.code != repContinue {
			return s.verdict(stData, r)
		}
	}
	m := parseMessage(t.Content)
	dt := bound{s.c.cfg.DataTimeout.D(), "data_timeout"}
	if p&protoNoHeaders == 0 {
		for _, f := range m.fields {
			if err := ctx.Err(); err != nil {
				// The session ended or the checks' time is up: the
				// rest of a long header is replayed for nobody.
				return s.fail(stHeader, err)
			}
			data := appendCString(nil, f.name)
			data = appendCString(data, f.value())
			r, err := s.event(cmdHeader, data, -1, dt, p&protoNRHeader != 0, true)
			if err != nil {
				return s.fail(stHeader, err)
			}
			if r.code == repSkip {
				break
			}
			if r.code != repContinue {
				return s.verdict(stHeader, r)
			}
		}
	}
	if p&protoNoEOH == 0 {
		r, err := s.event(cmdEOH, nil, stageEOH, dt, p&protoNREOH != 0, false)
		if err != nil {
			return s.fail(stEOH, err)
		}
		if r.code != repContinue {
			return s.verdict(stEOH, r)
		}
	}
	if p&protoNoBody == 0 {
		// The body in chunks, read on from the spool file for a spooled
		// message (Transaction.Rest): never whole in memory.
		body, done, err := openBody(m.body, t)
		if err != nil {
			return s.fail(stBody, err)
		}
		defer done()
		buf := make([]byte, min(chunkSize, int64(len(m.body))+t.RestLen))
		for len(buf) > 0 {
			if err := ctx.Err(); err != nil {
				return s.fail(stBody, err)
			}
			n, rerr := io.ReadFull(body, buf)
			if n > 0 {
				r, err := s.event(cmdBody, buf[:n], -1, dt, p&protoNRBody != 0, true)
				if err != nil {
					return s.fail(stBody, err)
				}
				if r.code == repSkip {
					break
				}
				if r.code != repContinue {
					return s.verdict(stBody, r)
				}
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return s.fail(stBody, rerr)
			}
		}
	}
	return s.endOfMessage(m, t)
}

// StreamsBody: the milter reads a spooled message's body through
// Transaction.Rest; a replaced body becomes Content (Rest nil).
func (s *session) StreamsBody() bool { return true }

// openBody is a reader of b (the body part of Content) followed by the
// rest of a spooled message.
func openBody(b []byte, t *smtp.Transaction) (io.Reader, func(), error) {
	if t.Rest == nil {
		return bytes.NewReader(b), func() {}, nil
	}
	r, err := t.Rest()
	if err != nil {
		return nil, nil, err
	}
	return io.MultiReader(bytes.NewReader(b), r), func() { r.Close() }, nil
}

// maxReplacedBody bounds a replacement body a milter sends.
const maxReplacedBody = 64 << 20

// maxModifications bounds the modifications a milter sends for one
// message (header edits, recipient changes, body chunks): more is a
// failure, not thousands of edits applied at the end of data.
const maxModifications = 10000

func (s *session) endOfMessage(m message, t *smtp.Transaction) smtp.Verdict {
	et := bound{s.c.cfg.EOMTimeout.D(), "eom_timeout"}
	if err := s.send(cmdEOB, nil, stageEOM, et); err != nil {
		return s.fail(stEOM, err)
	}
	var mods []reply
	var final reply
	// The replacement body's chunks are joined as they arrive: one
	// buffer, not every packet kept until the end as well, and past the
	// spool threshold a spool file (replbody.go). Held in memory, it is
	// within the server's body budget (Transaction.ReserveBody),
	// reserved as its chunks arrive; past it, with no spool file to go
	// to, the chunks are read and dropped, so the milter stays in step,
	// and the message gets ReplyBodyMemory.
	rp := &replacement{t: t}
	defer rp.abort() // unless apply gave the file to the transaction
	limit, limitName := s.c.replacedLimit()
	size := int64(m.headerLen()) // the header section the replacement follows
	for {
		r, err := s.await(et)
		if err != nil {
			return s.fail(stEOM, err)
		}
		if r.code == repSkip {
			return s.fail(stEOM, protoErr("SKIP at end of message"))
		}
		if r.code == repReplyCode || r.code == repAccept || r.code == repContinue || r.code == repDiscard ||
			r.code == repReject || r.code == repTempfail {
			final = r
			break
		}
		if r.code == repReplBody {
			size += int64(len(r.body))
			if size > limit {
				// A client's message that large is refused (552
				// 5.3.4); a milter's replacement may not make one.
				return s.fail(stEOM, protoErr("replacement body makes the message over %d octets (%s)", limit, limitName))
			}
			if bytes.IndexByte(r.body, 0) >= 0 {
				// A client's body with a NUL is refused (554 5.6.0); a
				// milter's may not bring one in, where a next hop
				// would refuse it and the sender get a bounce.
				return s.fail(stEOM, protoErr("replacement body has a NUL octet"))
			}
			rp.add(r.body)
			r.body = nil
		}
		if len(mods) >= maxModifications {
			return s.fail(stEOM, protoErr("more than %d modifications", maxModifications))
		}
		mods = append(mods, r)
	}
	if err := s.unasked(); err != nil {
		// More after the final reply: the replies were out of step, and
		// this verdict may be an earlier event's.
		return s.fail(stEOM, err)
	}
	s.inTx = false // the milter is back before MAIL
	switch final.code {
	case repAccept, repContinue:
	default:
		return s.verdict(stEOM, final)
	}
	s.c.met.reply(s.c.cfg.Name, stEOM, final.code)
	if rp.overBudget || rp.err != nil {
		s.c.answered() // umbra's budget or disk, not the milter: it answered
	}
	if rp.overBudget {
		// A refusal of the message like a received body the budget
		// cannot cover: the session logs it once, on its rate-limited
		// refusal line with the reason and the codes (smtp applyVerdict:
		// body="over the in-memory body budget"). A WARN here as well
		// was a line per message outside that limit (front48 item 2).
		return smtp.Verdict{Reply: smtp.ReplyBodyMemory}
	}
	if rp.err != nil {
		// umbra's disk, not the milter: the message is deferred, the
		// milter stays (it was read in step).
		s.c.log.Error("milter's replacement body: spool file failed; message deferred", "msg_id", t.QueueID, "err", rp.err)
		return smtp.Verdict{Reply: smtp.ReplySpoolFailed(rp.err)}
	}
	v, err := s.apply(m, mods, rp, t)
	if err != nil {
		return s.fail(stEOM, err)
	}
	s.c.answered() // its verdict and modifications read and made
	return v
}

// apply makes the modifications a milter sent at end of message, in
// order, to t; those whose action it did not negotiate are ignored and
// noted, once per action and message, on the front door's rate-limited
// refusal log (note: a line of the milter's own per modification was
// unbounded). rp is the replacement body, its chunks (the REPLBODY replies
// in mods) joined in memory or in a spool file.
func (s *session) apply(m message, mods []reply, rp *replacement, t *smtp.Transaction) (smtp.Verdict, error) {
	var v smtp.Verdict
	edited := false
	replaced := false
	rs := newRcptSet(t.Rcpts, t.RcptKey)
	var ignored []string // the actions not negotiated, noted once each
	for _, r := range mods {
		need, name := actionOf(r.code)
		if s.neg.actions&need == 0 {
			if !slices.Contains(ignored, name) {
				ignored = append(ignored, name)
				s.note(smtp.Noted{Msg: "milter modification not negotiated; ignored", Reason: "milter_unnegotiated",
					Attrs: []any{"action", name}})
			}
			continue
		}
		s.c.met.modification(s.c.cfg.Name, name)
		switch r.code {
		case repAddHeader, repInsHeader, repChgHeader:
			if !validName(r.name) {
				return v, protoErr("header name %q", r.name)
			}
			switch r.code {
			case repAddHeader:
				m.addHeader(r.name, r.value)
			case repInsHeader:
				m.insertHeader(r.index, r.name, r.value)
			default:
				m.changeHeader(r.index, r.name, r.value)
			}
			edited = true
		case repReplBody:
			replaced = true
		case repAddRcpt:
			// The session admits it by RCPT's rules (or drops and logs
			// it): an address a client could not give is not a protocol
			// failure of the milter.
			rs.add(rcptKey(r.rcpt))
		case repDelRcpt:
			rs.del(rcptKey(r.rcpt))
		case repQuarantine:
			reason := strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return ' '
				}
				return r
			}, r.reason)
			if reason == "" {
				reason = "quarantined by milter " + s.c.cfg.Name
			}
			v.Quarantine = reason
		}
	}
	spooled := replaced && rp.file != nil
	if replaced {
		longest := 0
		if spooled {
			if err := rp.w.close(); err != nil {
				s.c.log.Error("milter's replacement body: spool file failed; message deferred", "msg_id", t.QueueID, "err", err)
				return smtp.Verdict{Reply: smtp.ReplySpoolFailed(err)}, nil
			}
			m.body, m.sep = nil, true // the header section; the body follows in the file
			longest = int(rp.w.longest)
		} else {
			m.replaceBody(rp.mem)
			longest = longestLine(m.body)
		}
		if n := longest; s.c.maxLine > 0 && n > s.c.maxLine {
			// A client's line that long is refused (554 5.6.0); a
			// milter's may not bring one in either.
			return v, protoErr("replacement body has a line of %d octets, over max_line_length %d", n, s.c.maxLine)
		}
		edited = true
	}
	if edited {
		// A client's header section over max_header_size is refused
		// (552), and so is a line over max_line_length: a milter's
		// header edits may not bring in either.
		if n := m.headerLen(); s.c.maxHeader > 0 && int64(n) > s.c.maxHeader {
			return v, protoErr("header section of %d octets after the milter's edits, over max_header_size %d", n, s.c.maxHeader)
		}
		if n := m.longestHeaderLine(); s.c.maxLine > 0 && n > s.c.maxLine {
			return v, protoErr("header field with a line of %d octets after the milter's edits, over max_line_length %d", n, s.c.maxLine)
		}
		if replaced && !spooled && t.ReserveBody != nil && !t.ReserveBody(int64(m.headerLen()+len(m.body))) {
			// The message as stored: the reservation covers it once the
			// chunks' buffer is let go.
			return smtp.Verdict{Reply: smtp.ReplyBodyMemory}, nil
		}
		content := m.bytes()
		total := int64(len(content))
		if spooled {
			total += rp.w.n
		}
		if limit, name := s.c.replacedLimit(); replaced && total > limit {
			// Line ends made CRLF may have grown it past the limit.
			return v, protoErr("replacement body makes the message %d octets, over %d (%s)", total, limit, name)
		}
		if spooled {
			// The file is the transaction's from here on (made durable,
			// removed unless queued).
			f := rp.file
			rp.file = nil
			if err := t.ReplaceBodySpooled(content, f); err != nil {
				s.c.log.Error("milter's replacement body: spool file failed; message deferred", "msg_id", t.QueueID, "err", err)
				return smtp.Verdict{Reply: smtp.ReplySpoolFailed(err)}, nil
			}
		} else {
			t.Content = content
		}
	}
	if replaced && !spooled && t.Rest != nil {
		// A spooled message's body replaced: Content is now the whole
		// message, held in memory (bounded by max_message_size).
		t.Rest, t.RestLen = nil, 0
	}
	t.Rcpts = rs.list()
	return v, nil
}

// rcptSet is the recipient list under a milter's additions and
// deletions, each in constant time (a milter may send thousands):
// compared as RCPT compares recipients (key: the session's rcptKey —
// a final dot and the form of an internationalised domain aside, so
// anna@BÜCHER.example names anna@xn--bcher-kva.example; the local
// part's ASCII case only for an authoritative domain), first spelling
// and order kept.
type rcptSet struct {
	key     func(string) string
	order   []string
	present map[string]bool // key → in the list now
	listed  map[string]bool // key → in order
}

// setKey is a recipient's key in a rcptSet when the transaction gives
// none: mailaddr.RcptKey without a final dot, the local part exact.
func setKey(a string) string { return mailaddr.RcptKey(strings.TrimSuffix(a, "."), false) }

func newRcptSet(rcpts []string, key func(string) string) *rcptSet {
	if key == nil {
		key = setKey
	}
	rs := &rcptSet{key: key, present: map[string]bool{}, listed: map[string]bool{}}
	for _, r := range rcpts {
		rs.add(r)
	}
	return rs
}

func (rs *rcptSet) add(a string) {
	k := rs.key(a)
	rs.present[k] = true
	if !rs.listed[k] {
		rs.listed[k] = true
		rs.order = append(rs.order, a)
	}
}

func (rs *rcptSet) del(a string) { rs.present[rs.key(a)] = false }

func (rs *rcptSet) list() []string {
	out := make([]string, 0, len(rs.order))
	for _, a := range rs.order {
		if rs.present[rs.key(a)] {
			out = append(out, a)
		}
	}
	return out
}

// actionOf names a modification and the negotiated action it needs.
func actionOf(code byte) (uint32, string) {
	switch code {
	case repAddHeader:
		return actAddHeaders, "add_header"
	case repInsHeader:
		return actAddHeaders, "insert_header"
	case repChgHeader:
		return actChgHeaders, "change_header"
	case repReplBody:
		return actChgBody, "replace_body"
	case repAddRcpt:
		return actAddRcpt, "add_rcpt"
	case repAddRcptPar:
		return actAddRcptPar, "add_rcpt_par"
	case repDelRcpt:
		return actDelRcpt, "delete_rcpt"
	case repQuarantine:
		return actQuarantine, "quarantine"
	case repChgFrom:
		return actChgFrom, "change_from"
	}
	return 0, "unknown"
}

// Reset aborts the milter's view of a transaction that did not reach
// the end of message (SMFIC_ABORT; no reply).
func (s *session) Reset() {
	s.msgDone, s.skipRcpt = false, false
	if !s.inTx {
		return
	}
	s.inTx = false
	if !s.active() {
		return
	}
	if err := s.send(cmdAbort, nil, -1, s.c.commandBound()); err != nil {
		s.fail(stAbort, err)
	}
}

// Close says goodbye (SMFIC_QUIT) and closes the connection.
func (s *session) Close() {
	if s.conn != nil && !s.failed {
		s.quit()
	}
	s.closeConn()
	for _, n := range s.notes {
		// No verdict left to carry it (noted): counted already.
		s.c.log.Warn(n.Msg, append([]any{"reason", n.Reason}, n.Attrs...)...)
	}
	s.notes = nil
}

// quitWait bounds how long quit waits for the milter to close.
const quitWait = time.Second

// quit ends the connection as the protocol does: SMFIC_QUIT, the
// write side shut (a milter that ignores QUIT still reads EOF), then
// everything the milter still sends read and dropped until it closes
// (EOF) or quitWait (at most the command timeout) passes, and only then
// the close. A socket closed with unread input, or before the milter's
// last write, makes the kernel answer with a reset: the milter would
// meet ECONNRESET at a reply it was still writing.
func (s *session) quit() {
	c := s.conn
	c.SetDeadline(s.deadline(min(s.c.cfg.CommandTimeout.D(), quitWait)))
	if _, err := c.Write(appendPacket(nil, cmdQuit, nil)); err == nil {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		// Every reply owed was read, so anything here is a reply where
		// none may come (unasked) that arrived after the last check:
		// a protocol failure, with no message left to apply
		// on_failure to (the one before was answered by the verdict
		// read in step). Told, not only dropped (rt17a F6).
		n, _ := io.Copy(io.Discard, io.LimitReader(s.br, maxPacket))
		if n > 0 {
			// Noted as a failure is (fail): told with the session's next
			// verdict (the next message's), paced by the refusal log.
			s.note(smtp.Noted{Msg: "milter sent a reply where none may come after its last reply; dropped at the session's end",
				Reason: "milter_protocol", Attrs: []any{"milter_stage", stQuit, "octets", n}})
			s.c.met.failure(s.c.cfg.Name, stQuit, "protocol")
		}
	}
	s.closeConn()
}

// rcptKey is a path a milter names in an add or delete as RCPT reads it
// (smtp.RcptPath, domain case folded), or as sent when it is not a path
// RCPT would take (an addition the session then refuses).
func rcptKey(p string) string {
	path, err := smtp.RcptPath(p)
	if err != nil {
		return p
	}
	if a, postmaster, err := smtp.ParseRcptPath(p); err == nil && !postmaster {
		return a.String() // a quoted local part quoted again, as RCPT stores it
	}
	return path
}
