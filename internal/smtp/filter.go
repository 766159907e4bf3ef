package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/header"
	"umbra/internal/queue"
)

// The edge check chain. A receive connector's checks — connection
// filtering, HELO checks, rate limits, message authentication, milters —
// implement one or more of the stage interfaces below; the server asks
// them in the order the connector's CheckBuilder returned them.
//
// Stages and where their verdicts land:
//   - Connect and Helo run when the client's first EHLO or HELO makes
//     the session (go-smtp makes none before): a refusal answers that
//     command, so the log names the HELO with the refusal, and a
//     421 closes the connection. Helo runs again on every later EHLO
//     or HELO (checkGreetingAgain), whose name the session would take.
//   - Mail and Rcpt run after umbra's own checks (TLS, AUTH, rights,
//     syntax, relay, recipient validation) accepted the command — never
//     for a shadow copy's (copyOfPrimary), which its primary's checks
//     judged.
//   - Data runs at the end of data, after the size, framing, hop and
//     loop checks, on the message as the client sent it (umbra's trace
//     header is not part of it), before umbra's header firewall, so no
//     check can add a header umbra trusts.
//
// The first refusal ends a stage; later checks are not asked.

// Check is one edge check. Name is its name in logs and metrics.
type Check interface{ Name() string }

// ConnInfo is what a check knows of the session.
type ConnInfo struct {
	Connector string
	IP        netip.Addr
	Port      uint16 // the client's port (0 when unknown)
	Helo      string // the EHLO/HELO name ("" before one)
	// Greeting is the command that gave Helo, or the one being judged:
	// "EHLO" or "HELO" ("" before one), for a refusal to name the
	// command the client sent (rt45-front item 3); set for the Connect,
	// Helo and Mail checks.
	Greeting string
	TLS      bool
	User     string // the authenticated name ("" if none)
	Server   bool   // a transport server of the organisation
	// ServerAddress: the topology gives the client's address to a
	// server of the organisation (ServerDirectory.IsServerAddress); false
	// without a topology. It proves nothing about the session (anyone
	// behind that address may connect), only that a server may be
	// connecting and must be able to reach AUTH.
	ServerAddress bool
}

// Verdict is a check's answer. The zero Verdict lets the command or
// message through.
type Verdict struct {
	// Reply refuses: the command (or, at Data, the whole message) gets
	// it. A 421 closes the connection after the reply.
	Reply *gosmtp.SMTPError
	// Quarantine, at Data, keeps the message in the quarantine instead
	// of delivering it (the text is the reason the operator sees). At
	// other stages it marks every message of the transaction (Mail,
	// Rcpt) or of the session (Connect, Helo).
	Quarantine string
	// Discard, at Data, accepts the message (250) and delivers it to
	// nobody; at Mail or Rcpt it discards the transaction's message.
	Discard bool
	// Noted are refusals the check's action only logs (action: log):
	// the command goes on as if the check passed, and the session
	// writes each on its rate-limited refusal log (refusallog.go) with
	// its reason and the codes of the reply the check would have given —
	// never a line of the check's own per command, which any client
	// could multiply without bound.
	Noted []Noted
}

// Noted is one refusal a check only logs (Verdict.Noted): the log line's
// message and reason (the refusal log's bucket is per reason and
// source), the reply the check would have given, and further attributes
// (never the client's address: the session's logger carries it).
type Noted struct {
	Msg, Reason string
	Reply       *gosmtp.SMTPError
	Attrs       []any
}

// Transaction is the message at the end of data. A DataCheck may edit
// Rcpts and Content; the next check sees the edit.
type Transaction struct {
	// QueueID is the id the message is queued under (the milter macro i).
	QueueID string
	From    string
	Rcpts   []string
	// Content is the message as received (header and body), without
	// umbra's trace header; a check replaces it to edit it. Its header
	// section ends at its empty line, as umbra stores it: where the
	// client's ended at a line that is no field, the session put the
	// empty line there (sealHeadSection; HeaderSectionLen decides).
	Content []byte
	// AuthResults is the Authentication-Results field (raw, with its
	// line end) umbra's message authentication wrote into Content. After
	// the last check, every field claiming umbra's authserv-ids that
	// umbra did not write is removed (authres.go), whichever check added
	// it.
	AuthResults []byte
	// Rest, set for a message the session spooled (large messages
	// stream, spooldata.go), opens a reader of the message after
	// Content: Content then holds the header section only, through its
	// empty line, and a check edits only that — or replaces the body by
	// setting Content to the whole new message and Rest to nil. Only a
	// session whose every DataCheck is a BodyStreamer gets one; RestLen
	// is its length.
	Rest    func() (io.ReadCloser, error)
	RestLen int64
	// ReserveBody makes the bytes a check holds in memory for a body it
	// builds (a milter's replacement body) at least n in all, taken from
	// the server's in-memory body budget (transport.body_memory_limit),
	// which every session's received bodies share; they are given back
	// when the transaction ends. false: the budget cannot cover them
	// now (the reservation is unchanged), and the check answers
	// ReplyBodyMemory, the 452 4.3.1 of a received body the server could
	// not keep. nil: no budget.
	ReserveBody func(n int64) bool
	// SpoolBody, set when the session spools bodies (every DataCheck a
	// BodyStreamer, a spool directory), makes a spool file for a body a
	// check builds (a milter's replacement) once it is past
	// SpoolThreshold bytes, as a received body goes to one: the check
	// writes the body into it and gives it to the transaction with
	// ReplaceBodySpooled, or Aborts it. nil: the check holds the body in
	// memory, within ReserveBody.
	SpoolBody      func() (*queue.SpoolFile, error)
	SpoolThreshold int64
	// RcptKey is the session's comparison key of a recipient (RCPT's
	// repeats): a check adding or deleting a recipient names the one
	// the list holds by it — the local part in ASCII case for an
	// authoritative domain, exactly for any other. nil:
	// mailaddr.RcptKey with the local part exact.
	RcptKey func(addr string) string

	// spooled is the spool file of the replacement Rest reads now
	// (ReplaceBodySpooled), nil when none. The session hands it to the
	// queue with the message, or removes it (checkDataRest).
	spooled     *queue.SpoolFile
	spooledBody queue.Body // its content, made durable
}

// ReplaceBodySpooled replaces the message's body by the content of f, a
// file from SpoolBody the check wrote: Content becomes head (the header
// section, through its empty line) and Rest reads f. The file is made
// durable here, before any commit can name it, and is the
// transaction's from the call on (removed with the transaction unless
// the queue takes it; an error removes it at once). A spool file an
// earlier check gave is removed.
func (t *Transaction) ReplaceBodySpooled(head []byte, f *queue.SpoolFile) error {
	body, err := f.Finish()
	if err != nil {
		return err
	}
	if t.spooled != nil {
		t.spooled.Abort()
	}
	t.spooled, t.spooledBody = f, body
	t.Content, t.Rest, t.RestLen = head, body.Reader, body.Len()
	return nil
}

// ReplyBodyMemory is the reply to a message whose body the server's
// in-memory body budget cannot hold now (452 4.3.1): the client tries
// again later.
var ReplyBodyMemory = replyBodyMemory

// BodyStreamer is a DataCheck that reads a spooled message's body
// through Transaction.Rest and edits only the header section.
type BodyStreamer interface {
	StreamsBody() bool
}

// ConnectCheck checks the client address.
type ConnectCheck interface {
	Check
	Connect(ctx context.Context, c *ConnInfo) Verdict
}

// GreetingOnce marks a HeloCheck asked only at the greeting that makes
// the session, not at later ones (checkGreetingAgain): a milter, whose
// HELO event umbra sends once per connection, before any transaction
// (a later greeting may come inside one).
type GreetingOnce interface{ GreetingOnce() }

// HeloCheck checks the EHLO/HELO name.
type HeloCheck interface {
	Check
	Helo(ctx context.Context, c *ConnInfo, name string) Verdict
}

// MailCheck checks MAIL FROM (the reverse path, "" for the null sender).
type MailCheck interface {
	Check
	Mail(ctx context.Context, c *ConnInfo, from string, opts *gosmtp.MailOptions) Verdict
}

// RcptCheck checks one RCPT TO after umbra accepted it.
type RcptCheck interface {
	Check
	Rcpt(ctx context.Context, c *ConnInfo, from, to string) Verdict
}

// DataCheck checks and may edit the message at the end of data.
type DataCheck interface {
	Check
	Data(ctx context.Context, c *ConnInfo, t *Transaction) Verdict
}

// SessionCheck is a check that keeps state for one SMTP session — a
// milter speaks one connection per session and hears every stage on it.
// When the first EHLO or HELO makes the session, the server calls Open
// and, for the rest of the session, asks the returned value instead of
// the SessionCheck itself: it implements the stage interfaces it needs
// (ConnectCheck … DataCheck) and CheckSession. Open does no I/O that
// can fail the session: failures belong to the stages' verdicts.
type SessionCheck interface {
	Check
	Open(ctx context.Context, c *ConnInfo) CheckSession
}

// CheckSession is one session's state of a SessionCheck.
type CheckSession interface {
	Check
	// Reset: the mail transaction ended without this check's Data
	// stage completing it (RSET, a refused MAIL, a message refused by
	// umbra or by an earlier check, STARTTLS, a new EHLO). It is
	// called after every transaction and must be cheap when there is
	// nothing to reset.
	Reset()
	// Close ends the session's state (the connection closed, or the
	// greeting was refused).
	Close()
}

// CheckBuilder makes a receive connector's checks; it runs when the
// server starts and on every reload, so a bad setting fails there.
// Checks that keep state across reloads (counters, caches) keep it
// outside the values the builder returns.
type CheckBuilder func(rc config.ReceiveConnector) ([]Check, error)

// connInfo is the session as checks see it.
func (s *session) connInfo() *ConnInfo {
	return &ConnInfo{Connector: s.c.cfg.Name, IP: s.ip, Port: remotePort(s.raw), Helo: s.conn.Hostname(), TLS: s.tlsActive(),
		User: s.user, Server: s.server, ServerAddress: s.topologyServerAddress()}
}

// greetingVerb is the greeting command being answered (the verb layer's
// last command, EHLO or HELO, for the first greeting, which go-smtp
// answers after the layer handed it; a later one is judged before that:
// checkGreetingAgain's verb), else the one the session was greeted
// with; "" before any. Read in go-smtp's goroutine, which sets them: by
// the greeting and MAIL checks only (ConnInfo.Greeting), not connInfo,
// which a message's checks may ask elsewhere.
func (s *session) greetingVerb() string {
	v := s.vc
	switch {
	case v == nil:
		return ""
	case v.last == "EHLO" || v.last == "HELO":
		return v.last
	case !v.greeted:
		return ""
	case v.helloOnly:
		return "HELO"
	}
	return "EHLO"
}

// topologyServerAddress: a topology is known and gives the client's
// address to one of its servers. Asked for every check's view of the
// session, it is kept as addressIsServer's answer is.
func (s *session) topologyServerAddress() bool {
	d := s.srv.servers.Load()
	return d != nil && s.serverAddr.Load().answer(&s.serverAddr, d, s.ip, ServerDirectory.IsServerAddress)
}

// remotePort is the client's TCP port, 0 when the address has none.
func remotePort(c net.Conn) uint16 {
	if c == nil || c.RemoteAddr() == nil {
		return 0
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return 0
	}
	return ap.Port()
}

// openChecks makes the session's check list: the checks of the
// connector in force when the session is made (a reload since the
// connection was accepted counts: followChecks), each SessionCheck
// replaced by its per-session state.
func (s *session) openChecks(info *ConnInfo) {
	checks := s.inForceOrOwn().checks
	s.checks = make([]Check, 0, len(checks))
	for _, ck := range checks {
		if sc, ok := ck.(SessionCheck); ok {
			s.checks = append(s.checks, sc.Open(s.srv.ctx, info))
			continue
		}
		s.checks = append(s.checks, ck)
	}
	s.dataChecks = wholeBodyChecks(s.checks)
}

// wholeBodyChecks: one of checks runs at end of data and reads the
// message whole (not a BodyStreamer), so the body is kept in memory.
func wholeBodyChecks(checks []Check) bool {
	return slices.ContainsFunc(checks, func(ck Check) bool {
		_, data := ck.(DataCheck)
		bs, ok := ck.(BodyStreamer)
		return data && !(ok && bs.StreamsBody())
	})
}

// resetChecks tells the per-session checks that a transaction ended.
func (s *session) resetChecks() {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	for _, ck := range s.checks {
		if cs, ok := ck.(CheckSession); ok {
			cs.Reset()
		}
	}
}

// closeChecks ends the per-session checks' state; the session asks no
// check after it.
func (s *session) closeChecks() {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	s.closeChecksLocked()
}

func (s *session) closeChecksLocked() {
	for _, ck := range s.checks {
		if cs, ok := ck.(CheckSession); ok {
			cs.Close()
		}
	}
	s.checks = nil
}

// applyVerdict records a verdict's marks on the session and returns
// its refusal, if any; a 421 hangs up after the reply. attrs go on every
// line it writes: at the end of data the message's id ("msg_id"), so a
// check's refusal or note names the message it judged.
func (s *session) applyVerdict(ck Check, v Verdict, stage string, attrs ...any) error {
	for _, n := range v.Noted {
		s.srv.refusals.log(s.log, n.Msg, n.Reason, n.Reply, s.ip, append(append([]any{"stage", stage}, attrs...), n.Attrs...)...)
	}
	if v.Quarantine != "" && s.quarantine == "" {
		s.quarantine = v.Quarantine
	}
	if v.Discard {
		if !s.discard {
			s.discardBy = ck.Name()
		}
		s.discard = true
	}
	if v.Reply == nil {
		return nil
	}
	attrs = append([]any{"stage", stage}, attrs...)
	if v.Reply == replyBodyMemory && s.srv.bodyMem != nil {
		// A body a check could not hold within the budget (a milter's
		// replacement): counted as the reply the client gets, and said
		// on the refusal's own rate-limited line (front47 F1: a second,
		// WARN line per message besides it).
		s.srv.bodyMem.refused.Add(1)
		attrs = append(attrs, "body", "over the in-memory body budget")
	}
	s.srv.refusals.log(s.log, "refused by check", ck.Name(), v.Reply, s.ip, attrs...)
	if v.Reply.Code == 421 {
		if tc, ok := s.raw.(*trackedConn); ok {
			tc.hangUp.Store(true)
		}
	}
	return wireReply(v.Reply)
}

// A check's reply may have several lines (a milter's SMFIR_REPLYCODE
// from smfi_setmlreply): their texts joined by "\n", one code and one
// enhanced status code for all. go-smtp writes the enhanced code on the
// last line only; RFC 2034 §3 puts it on every line of a reply, so
// wireReply writes it at the front of each other line's text. The text
// is outside text (a milter's, a check result's, a directory's): each
// line is written as echoed client text is (replyText: \xNN for a byte
// outside printable ASCII, at most maxEcho characters once escaped, then
// echoCut), so a reply line is at most 512 octets (RFC 5321
// §4.5.3.1.5) whatever the text; at most maxCheckReplyLines lines.
const maxCheckReplyLines = 32

func wireReply(r *gosmtp.SMTPError) *gosmtp.SMTPError {
	if r == nil {
		return r
	}
	if !strings.ContainsAny(r.Message, "\r\n") {
		if t := replyText(r.Message); t != r.Message {
			return &gosmtp.SMTPError{Code: r.Code, EnhancedCode: r.EnhancedCode, Message: t}
		}
		return r
	}
	lines := strings.Split(strings.ReplaceAll(strings.TrimRight(r.Message, "\r\n"), "\r\n", "\n"), "\n")
	if len(lines) > maxCheckReplyLines {
		lines = lines[:maxCheckReplyLines]
	}
	enh := r.EnhancedCode
	if enh == gosmtp.EnhancedCodeNotSet {
		enh = gosmtp.EnhancedCode{r.Code / 100, 0, 0} // what go-smtp writes on the last line
	}
	prefix := ""
	if enh != gosmtp.NoEnhancedCode && r.Code/100 != 3 {
		prefix = fmt.Sprintf("%d.%d.%d ", enh[0], enh[1], enh[2])
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		l = replyText(strings.TrimRight(l, "\r"))
		if i < len(lines)-1 {
			l = prefix + l
		}
		out[i] = l
	}
	return &gosmtp.SMTPError{Code: r.Code, EnhancedCode: enh, Message: strings.Join(out, "\n")}
}

// replyText is outside text (a check's, a milter's, a next hop's, an
// error's) as a reply line carries it: in echoText's form, escaped and
// cut at maxEcho characters, like echoed client text.
func replyText(s string) string {
	if e := echoText([]byte(s)); len(e) != len(s) || string(e) != s {
		return string(e)
	}
	return s
}

// checkGreeting runs the Connect and Helo checks when the first EHLO or
// HELO makes the session.
// A refused greeting makes no session: the per-session checks are
// closed here, as no Logout will come.
func (s *session) checkGreeting() error {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	info := s.connInfo()
	info.Greeting = s.greetingVerb()
	s.openChecks(info)
	ctx, stop := s.checkContext()
	defer stop()
	for _, ck := range s.checks {
		if cc, ok := ck.(ConnectCheck); ok {
			if err := s.applyVerdict(ck, cc.Connect(ctx, info), "connect"); err != nil {
				s.closeChecksLocked()
				s.refuseClient(err)
				return err
			}
		}
	}
	for _, ck := range s.checks {
		if hc, ok := ck.(HeloCheck); ok {
			if err := s.applyVerdict(ck, hc.Helo(ctx, info, info.Helo), "helo"); err != nil {
				s.closeChecksLocked()
				return err
			}
		}
	}
	if r := s.checksCutOff(ctx, "greeting"); r != nil {
		s.closeChecksLocked()
		return r
	}
	s.sessionQuarantine, s.sessionDiscard = s.quarantine, s.discard
	s.sessionDiscardBy = s.discardBy
	return nil
}

// refuseClient records a connection check's permanent refusal of the
// client in the verb layer: the connection is refused as a 554 greeting
// refuses it (RFC 5321 §3.1), so every later command but QUIT gets
// 503 5.5.1 naming the refusal's codes, and no greeting is checked
// again. A 4xx (a tempfail closes) records nothing.
func (s *session) refuseClient(err error) {
	var r *gosmtp.SMTPError
	if s.vc == nil || !errors.As(err, &r) || r.Code < 500 {
		return
	}
	s.vc.refusedClient = "503 5.5.1 This connection was refused (" + codesOf(r) + "): only QUIT is accepted"
}

// checkGreetingAgain runs the Helo checks on the name of a later EHLO or
// HELO of the session (after the first, after STARTTLS, after RSET):
// the name a greeting gives replaces the one the checks took — in the
// trace field, as the SPF HELO identity — so it passes them the same
// (but for GreetingOnce checks).
// A refusal is that greeting's reply and changes nothing (the session
// keeps its name and its transaction); the Connect checks ran once, on
// the connection, and are not asked again. The verdicts of an accepted
// greeting are the session's, as the first one's are (its transaction
// is reset by the greeting). verb is the greeting's command, EHLO or
// HELO: the verb layer judges it before go-smtp takes it, so its last
// command (greetingVerb) is still the one before (rdfront45: a HELO
// after an EHLO was refused as "EHLO command rejected").
func (s *session) checkGreetingAgain(verb, name string) *gosmtp.SMTPError {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	quarantine, discard, discardBy := s.quarantine, s.discard, s.discardBy
	s.quarantine, s.discard, s.discardBy = s.sessionQuarantine, s.sessionDiscard, s.sessionDiscardBy
	info := s.connInfo()
	info.Helo, info.Greeting = name, verb
	ctx, stop := s.checkContext()
	defer stop()
	for _, ck := range s.checks {
		if _, once := ck.(GreetingOnce); once {
			continue
		}
		if hc, ok := ck.(HeloCheck); ok {
			if r := s.applyVerdict(ck, hc.Helo(ctx, info, name), "helo"); r != nil {
				s.quarantine, s.discard, s.discardBy = quarantine, discard, discardBy
				return r.(*gosmtp.SMTPError)
			}
		}
	}
	if r := s.checksCutOff(ctx, "greeting"); r != nil {
		s.quarantine, s.discard, s.discardBy = quarantine, discard, discardBy
		return r
	}
	s.sessionQuarantine, s.sessionDiscard, s.sessionDiscardBy = s.quarantine, s.discard, s.discardBy
	return nil
}

// replyLines writes a check's reply as the verb layer sends it: go-smtp's
// form (the enhanced code on the last line; wireReply put it on the
// others).
func replyLines(r *gosmtp.SMTPError) []string {
	lines := strings.Split(r.Message, "\n")
	enh := r.EnhancedCode
	if enh == gosmtp.EnhancedCodeNotSet {
		enh = gosmtp.EnhancedCode{r.Code / 100, 0, 0}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		switch {
		case i < len(lines)-1:
			out[i] = fmt.Sprintf("%d-%s", r.Code, l)
		case enh == gosmtp.NoEnhancedCode:
			out[i] = fmt.Sprintf("%d %s", r.Code, l)
		default:
			out[i] = fmt.Sprintf("%d %d.%d.%d %s", r.Code, enh[0], enh[1], enh[2], l)
		}
	}
	return out
}

func (s *session) checkMail(from string, opts *gosmtp.MailOptions) error {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	var info *ConnInfo
	ctx, stop := s.checkContext()
	defer stop()
	for _, ck := range s.checks {
		if mc, ok := ck.(MailCheck); ok {
			if info == nil {
				info = s.connInfo()
				info.Greeting = s.greetingVerb()
			}
			if err := s.applyVerdict(ck, mc.Mail(ctx, info, from, opts), "mail"); err != nil {
				return err
			}
		}
	}
	if r := s.checksCutOff(ctx, "MAIL"); r != nil {
		return r
	}
	return nil
}

func (s *session) checkRcpt(to string) error {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	var info *ConnInfo
	ctx, stop := s.checkContext()
	defer stop()
	for _, ck := range s.checks {
		if rc, ok := ck.(RcptCheck); ok {
			if info == nil {
				info = s.connInfo()
			}
			if err := s.applyVerdict(ck, rc.Rcpt(ctx, info, s.from, to), "rcpt"); err != nil {
				return err
			}
		}
	}
	if r := s.checksCutOff(ctx, "RCPT"); r != nil {
		return r
	}
	return nil
}

// checksCutOff is the reply to a command whose checks ran under
// checkContext (a recipient lookup too: validateRcpt) when that context
// ended meanwhile — the client closed its connection, or the server is
// stopping: the verdicts are incomplete (a check cut off may have let
// through what it would refuse), so the command is refused for now,
// as the end-of-data checks refuse the message (checkDataRest); nil
// when the checks ran to their end.
func (s *session) checksCutOff(ctx context.Context, what string) *gosmtp.SMTPError {
	if ctx.Err() == nil {
		return nil
	}
	s.log.Info("checks cut off: the client left or the server is stopping", "command", what)
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "connection lost during the " + what + " checks"}
}

// checkData runs the Data checks on content (the message without the
// trace header) and returns the content and recipients to queue.
func (s *session) checkData(id queue.ID, content []byte) ([]byte, []queue.Recipient, error) {
	content, rcpts, _, err := s.checkDataRest(id, content, nil, 0)
	return content, rcpts, err
}

// checkDataRest is checkData for a spooled message: content is its
// header section, rest opens what follows (Transaction.Rest). replaced:
// a check replaced the body, and the content returned is the whole
// message.
//
// A copy on receipt (receipt.go) is not checked: it is the primary's
// message, checked there, and the copy must be what the primary holds —
// a check here that discarded it, dropped a recipient, changed it or
// quarantined it behind "250 Shadow copy kept" would leave the primary
// counting a copy that is not there, and a takeover after the primary's
// loss would deliver less than the sender was promised. Nor are the
// checks of its MAIL and RCPT asked (copyOfPrimary). A discard or
// quarantine verdict the session's stages gave (Connect, HELO) refuses
// the copy instead, and the primary tries another server.
//
// A check's replacement body in a spool file (Transaction.SpoolBody) is
// left in s.replBody, the message's body after content; data() hands it
// to the queue with the message or removes it.
func (s *session) checkDataRest(id queue.ID, content []byte, rest func() (io.ReadCloser, error), restLen int64) (_ []byte, _ []queue.Recipient, replaced bool, err error) {
	if s.pendingCopyDB != "" {
		if s.discard || s.quarantine != "" {
			reply := &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Shadow copy not kept: this server's checks would not keep it as sent"}
			s.srv.refusals.log(s.log, "shadow copy refused", "a check of this server would not keep it", reply, s.ip, "primary", s.shadowServer)
			return nil, nil, false, reply
		}
		return content, s.rcpt, false, nil
	}
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	var t *Transaction
	var info *ConnInfo
	ctx, stop := s.checkContext()
	defer stop()
	var ownFrom []string // the From: umbra's message authentication evaluated
	for _, ck := range s.checks {
		dc, ok := ck.(DataCheck)
		if !ok {
			continue
		}
		if t == nil {
			info = s.connInfo()
			t = &Transaction{QueueID: id.String(), From: s.from, Content: content, Rest: rest, RestLen: restLen,
				ReserveBody: s.reserveBody, RcptKey: s.rcptKey}
			if s.spooling() {
				t.SpoolBody, t.SpoolThreshold = s.srv.newSpool, s.srv.spoolThreshold
			}
			defer func() {
				// The replacement's spool file is the message's body only
				// when the checks let it through and no later check
				// replaced the body again in memory (Rest nil).
				if t.spooled == nil {
					return
				}
				if err != nil || t.Rest == nil {
					t.spooled.Abort()
					return
				}
				s.replBody = &spooledBody{file: t.spooled, size: t.RestLen, body: t.spooledBody}
			}()
			for _, r := range s.rcpt {
				t.Rcpts = append(t.Rcpts, r.Addr)
			}
		}
		hadResults := t.AuthResults != nil
		if err := s.applyVerdict(ck, dc.Data(ctx, info, t), "data", "msg_id", id.String()); err != nil {
			return nil, nil, false, err
		}
		if !hadResults && t.AuthResults != nil {
			ownFrom = header.Values(t.Content, "From")
		}
		if s.discard {
			break
		}
	}
	if ctx.Err() != nil {
		// The client left (or the server is stopping) while the checks
		// ran: their verdicts are incomplete, and nobody would hear the
		// 250, so nothing is queued.
		s.log.Info("end-of-data checks cut off; message not queued", "msg_id", id.String())
		return nil, nil, false, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "connection lost during the message checks"}
	}
	if t == nil {
		return content, s.rcpt, false, nil
	}
	t.Content = s.keepOwnResults(content, t, ownFrom)
	rcpts, err := s.checkedRcpts(id, t.Rcpts)
	if err != nil {
		return nil, nil, false, err
	}
	return t.Content, rcpts, rest != nil && t.Rest == nil || t.spooled != nil && t.Rest != nil, nil
}
