package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// TLSPolicy is a send connector's STARTTLS policy.
type TLSPolicy int

const (
	TLSNone          TLSPolicy = iota // never STARTTLS
	TLSOpportunistic                  // STARTTLS when offered, certificate unchecked
	TLSRequired                       // STARTTLS or fail, certificate unchecked
	TLSVerify                         // STARTTLS or fail, certificate checked against the host name
)

// ClientOptions configure an outbound session.
type ClientOptions struct {
	LocalName      string // EHLO name
	ServerName     string // for TLSVerify
	TLS            TLSPolicy
	RootCAs        *tls.Config // optional base TLS configuration (tests add their CA; the client certificate)
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	LMTP           bool
	// VerifyConnection, when set, authenticates the TLS session in place
	// of the host-name check (DANE, MTA-STS): the handshake fails when it
	// returns an error. TLS must then be TLSRequired or TLSOpportunistic.
	VerifyConnection func(tls.ConnectionState) error
	// OnStage, when set, is told each step of the opening the client
	// waits on the server for from now on: "greeting", "reply to EHLO",
	// "STARTTLS" (its reply, the handshake, the EHLO over TLS).
	OnStage func(stage string)
}

// stage tells o.OnStage the step the opening waits for now.
func (o ClientOptions) stage(s string) {
	if o.OnStage != nil {
		o.OnStage(s)
	}
}

// ErrTLSUnavailable is returned when policy demands STARTTLS and the
// server does not offer it, or the handshake fails.
var ErrTLSUnavailable = errors.New("STARTTLS unavailable")

// The causes of ErrTLSUnavailable (errors.Is matches both the cause and
// ErrTLSUnavailable), so that replies, DSNs and TLS reports name what
// happened.
var (
	ErrSTARTTLSNotOffered = errors.New("STARTTLS not offered")
	ErrSTARTTLSRefused    = errors.New("STARTTLS refused")
	ErrTLSHandshake       = errors.New("TLS handshake failed")
)

// tlsUnavailable is an ErrTLSUnavailable with its cause.
type tlsUnavailable struct {
	cause, err error
}

func (e *tlsUnavailable) Error() string {
	if e.err == nil {
		return e.cause.Error()
	}
	return e.cause.Error() + ": " + Reply(e.err)
}
func (e *tlsUnavailable) Is(t error) bool { return t == ErrTLSUnavailable || t == e.cause }
func (e *tlsUnavailable) Unwrap() error   { return e.err }

// Client is an outbound SMTP or LMTP session: go-smtp's client after
// umbra's own prelude (greeting, EHLO, STARTTLS), which sets the EHLO
// name go-smtp's STARTTLS path cannot.
type Client struct {
	*gosmtp.Client
	conn net.Conn
	sc   *shadowConn
	TLS  bool
	hop  string
	// dataSent: a write carrying message data (DATA's body, BDAT's
	// octets) began since the last push of a copy began (DataSent).
	// Read and written by the goroutine that pushes only.
	dataSent bool

	// ShadowDB is the peer's database id once Shadow succeeded: the
	// session is then a shadow session. LastQuery is when discards
	// were last asked for on it.
	ShadowDB  string
	LastQuery time.Time
	// ShadowAt is when the peer answered the session's XSHADOW: its
	// discard queries end only a refusal of the primary's that came
	// before it (package shadow, Manager.ContactOn).
	ShadowAt time.Time
	// ShadowVersion is the shadow verb version both sides speak (1 for a
	// peer that advertises a bare XSHADOW), set by Shadow.
	ShadowVersion int
	// ShadowName is the name the peer stated as its own in its XSHADOW
	// reply (version 20, NAME=: its server.name), set by Shadow; "" for
	// a peer below 20, which states none.
	ShadowName string
	// txnOpen: a MAIL this session sent may have opened a transaction
	// at the peer that neither an RSET nor a reply to the end of its
	// data has closed — a DATA the peer refused leaves it open (RFC
	// 5321 §4.1.1.4; Postfix keeps it, and answers the next MAIL "503
	// nested MAIL command"). Such a session carries no other message
	// (Alive; Settle ends the transaction first).
	txnOpen bool
	// smtputf8 is whether the transaction the last Mail opened uses
	// SMTPUTF8 (its MailOptions.UTF8): the form of a utf-8 ORCPT
	// follows it, never the next hop's EHLO (Rcpt).
	smtputf8 bool
	// Via is the send connector the session belongs to ("" inside the
	// organisation).
	Via string
	// EHLORefused is the next hop's reply to EHLO when it refused it and
	// the session was greeted with HELO (no extensions), "" otherwise.
	EHLORefused string
	// Assurance is what the session's opening established about the
	// next hop's TLS, set by its opener: a pooled session carries only
	// a message whose TLS needs it meets (package delivery).
	Assurance Assurance
	// OnMark, when set before Shadow, is called with the peer's database
	// id and each rollback mark it presents (version 7: the XSHADOW
	// reply, every XQUERYDISCARD reply), before the command returns: the
	// shadow manager compares it with the highest seen (queue marks.go).
	OnMark func(dbID string, mark, floor uint64, floorDB string)
	// MarkFloor, when set, is read right before each command whose
	// reply presents a mark, and handed to OnMark with it: the mark is
	// compared with what was known before the peer read its counter.
	MarkFloor func() (uint64, string)
	// DiscardMark is the rollback mark the last discard query's reply
	// presented (QueryDiscard, WaitDiscard; 0 for none): read at the
	// primary before the discards it lists were read (a copy committed
	// after the listing is above it), the mark they were made under.
	// The caller saves the batch with it: an early discard is
	// kept under it (queue AddEarlyDiscard), not under a higher mark a
	// copy of another session stored meanwhile.
	DiscardMark uint64
	floor       uint64
	floorDB     string
	// markAsked: Shadow asked for marks; present, when set, is the mark
	// Shadow presents (PresentMark).
	markAsked bool
	present   *presentedMark
	// codes: Shadow said CODES (version 18): the XSHADOW reply and each
	// line of a shadow verb's list carry an enhanced status code, which
	// listed takes off before the line is read.
	codes bool

	awaitReply func() (done func())   // SetAwaitReply
	bodies     atomic.Int64           // BodiesBegun; read by a stop's goroutine too
	beforeBody func() error           // SetBeforeBody
	inData     func(rcpts []error)    // SetInData
	onReply    func(k int, err error) // SetOnReply
	onGoAhead  func()                 // SetOnGoAhead
	onFinal    func()                 // SetOnFinalReply
	bodyMu     sync.Mutex             // orders beginBody and AbortUnlessBodyBegun
	aborted    bool                   // AbortUnlessBodyBegun closed the session: no body begins
	// badReply: a reply to a command go-smtp sent could not be taken
	// (badReply: malformed, past a bound); the session is out of step
	// (QuitBounded). A break of the connection is noted below it
	// (replyLimitConn.broken).
	badReply bool
}

// errAborted is a transaction's error when AbortUnlessBodyBegun closed
// the session before its body began.
var errAborted = errors.New("connection closed before the message's body began")

// beginBody counts a body begun (BodiesBegun) before its first byte is
// written, unless AbortUnlessBodyBegun came first: then nothing of it
// is written, and the transaction fails with errAborted.
func (c *Client) beginBody() bool {
	c.bodyMu.Lock()
	defer c.bodyMu.Unlock()
	if c.aborted {
		return false
	}
	c.bodies.Add(1)
	return true
}

// AbortUnlessBodyBegun closes the connection unless a body has begun
// since BodiesBegun returned n, and reports whether it closed it. The
// test and the close are one step against the client's beginning of a
// body (beginBody): a caller on another goroutine (a stop, the expiry's
// cut) that closes because no body began can no longer race a body and
// its final dot to the next hop — which would hold the message while
// its sender counts it undelivered (RFC 1047's duplicate), or, at the
// expiry, fail mail that was delivered. A body begun first goes on: its
// end is the next hop's to say.
func (c *Client) AbortUnlessBodyBegun(n int) bool {
	c.bodyMu.Lock()
	if int(c.bodies.Load()) != n {
		c.bodyMu.Unlock()
		return false
	}
	c.aborted = true
	c.bodyMu.Unlock()
	c.Close()
	return true
}

// SetBeforeBody sets the check a pipelined transaction (Pipeline) makes
// after the 354 to its DATA, before the first byte of the body: an
// error abandons the message — the connection is closed, the only way
// to take back a DATA the server opened, so the next hop discards the
// transaction — and is the Pipelined's Err. The queue uses it to send
// nothing of a message whose expiry passed while the next hop answered
// its envelope (queue.PastExpiry). nil clears it.
func (c *Client) SetBeforeBody(f func() error) { c.beforeBody = f }

// SetInData sets what a pipelined transaction (Pipeline) calls once
// the replies to MAIL and every RCPT are read, MAIL accepted and a
// recipient at least, before the reply to DATA is awaited: from then on
// the transaction is in the message data. rcpts are the RCPT replies,
// parallel to the recipients (nil: accepted). The queue reports a
// recipient whose next hop stops answering there as such. nil clears
// it.
func (c *Client) SetInData(f func(rcpts []error)) { c.inData = f }

// SetOnReply sets what a pipelined transaction (Pipeline) calls as it
// reads each reply of its envelope, as that reply comes: k -1 with the
// reply to MAIL, k with the reply to the k-th recipient's RCPT (nil:
// accepted). The next hop answering a part of the envelope is not a
// next hop that stopped answering it (the queue's stall marks move
// with it), and a recipient it refused has its reply at once, not when
// the last RCPT's reply comes. nil clears it.
func (c *Client) SetOnReply(f func(k int, err error)) { c.onReply = f }

// SetOnGoAhead sets what a transaction, lock-step (SendDataParts,
// SendDataStream) or pipelined (Pipeline), calls when it reads the next
// hop's 354 to DATA, before the first byte of the body: the host
// answered, and the queue's stall marks move with it (a host that took
// its time to answer DATA and then stalls at the final dot is silent
// since its 354, not since before it). nil clears it.
func (c *Client) SetOnGoAhead(f func()) { c.onGoAhead = f }

// SetOnFinalReply sets what a transaction calls as it reads each reply
// to the end of the message — LMTP gives one per accepted recipient
// (RFC 2033 §4.2), which may come minutes apart: each is the host
// answering, and the queue's stall marks of the recipients still
// waiting for theirs move with it. nil clears it.
func (c *Client) SetOnFinalReply(f func()) { c.onFinal = f }

// BodiesBegun is how many message bodies this session has begun to send
// (each after a 354 to DATA). A transaction that leaves it unchanged
// gave the next hop no message: whatever its replies, the next hop
// cannot have taken it, and sending it again elsewhere duplicates
// nothing.
func (c *Client) BodiesBegun() int { return int(c.bodies.Load()) }

// SetAwaitReply sets the function called while the client of a
// transaction (Pipeline, SendData) waits for the next hop's replies — to
// the envelope and DATA, and to the end of the message (the next hop's
// processing time, which may be minutes) — and while a write to the next
// hop blocks because it does not take the bytes (peerwrite.go), but not
// while the message is read and dot-stuffed between writes, nor during
// a write the socket takes at once; it returns the function called when
// they are in. The queue
// uses it to tell a crash during such a wait from one in umbra's own code
// (queue.AwaitingPeer). The shadow verbs and RSET wait through it as
// well. nil clears it.
func (c *Client) SetAwaitReply(f func() (done func())) { c.awaitReply = f }

// awaitingReply calls the SetAwaitReply function, if any; the function it
// returns may be called more than once (the first call counts).
func (c *Client) awaitingReply() (done func()) {
	if c.awaitReply == nil {
		return func() {}
	}
	end, ended := c.awaitReply(), false
	return func() {
		if !ended {
			ended = true
			end()
		}
	}
}

// newClientArmed, when set (tests), runs in NewClient once the end of
// its context is armed, before the greeting is read.
var newClientArmed func(ctx context.Context)

// SetHop records the name of the next hop this client talks to.
func (c *Client) SetHop(h string) { c.hop = h }

// Hop is the name given to SetHop.
func (c *Client) Hop() string { return c.hop }

// NewClient runs the prelude on conn and returns a client that has
// greeted the server with opts.LocalName (over TLS when negotiated).
// On error conn is closed. The end of ctx closes conn, whenever it
// comes before NewClient returns: a deadline of now set then (as
// before) was overwritten by the command timeout's deadline set for the
// greeting, or cleared before EHLO and replaced by go-smtp's own, and a
// cancelled session waited the command timeout at a next hop that does
// not answer.
//
// An opening that failed once the caller's deadline had passed returns
// only once ctx says so (its Err set): the deadlines of its steps are
// capped at that deadline (openbound.go), and the read they cut may end
// a moment before the context's own timer, where a caller asking
// ctx.Err() to tell its own end from the next hop's silence would blame
// the next hop.
func NewClient(ctx context.Context, conn net.Conn, o ClientOptions) (_ *Client, err error) {
	defer func() {
		if dl, ok := ctx.Deadline(); err != nil && ok && !time.Now().Before(dl) {
			<-ctx.Done() // passed: its timer fires now
		}
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if newClientArmed != nil {
		newClientArmed(ctx)
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	// server.name may be written absolute ("hub1.example.org."); the
	// EHLO argument is a Domain without the final dot (RFC 5321
	// §4.1.2), which umbra's own receive side insists on (helosyntax.go).
	o.LocalName = strings.TrimSuffix(o.LocalName, ".")
	pw := newPeerWriteConn(conn) // peerwrite.go: a write blocked on the next hop is its time
	if limit, ok := ctx.Deadline(); ok {
		pw.bound(limit) // no step of the opening outlives the caller's deadline (openbound.go)
	}
	pw.SetDeadline(time.Now().Add(o.CommandTimeout))
	c, useTLS, err := prelude(pw, o)
	if err != nil {
		conn.Close()
		return nil, err
	}
	pw.SetDeadline(time.Time{})
	sc := &shadowConn{Conn: newReplyLimitConn(c)} // replylimit.go
	var gc *gosmtp.Client
	if o.LMTP {
		gc = gosmtp.NewClientLMTP(sc)
	} else {
		gc = gosmtp.NewClient(sc)
	}
	gc.CommandTimeout = o.CommandTimeout
	if o.DataTimeout > 0 {
		gc.SubmissionTimeout = o.DataTimeout
	}
	if err := gc.Hello(o.LocalName); err != nil {
		gc.Close()
		hello := "EHLO"
		if o.LMTP {
			hello = "LHLO"
		}
		return nil, &StageError{Stage: "reply to " + hello, Err: err}
	}
	cl := &Client{Client: gc, conn: c, sc: sc, TLS: useTLS}
	if rc, ok := c.(*replayConn); ok {
		cl.EHLORefused = rc.ehloRefused
	}
	pw.c = cl
	pw.bound(time.Time{}) // the session's commands: bounded by their callers (their ctx closes the connection)
	return cl, nil
}

// ErrNoShadow is returned by Shadow when the peer offers no XSHADOW.
var ErrNoShadow = errors.New("peer does not offer XSHADOW")

// Shadow opens a shadow session as serverID (W-2) and returns the peer's
// transport database id. Call it after EHLO and AUTH, before MAIL.
func (c *Client) Shadow(serverID string) (string, error) {
	if ok, _ := c.Extension("XSHADOW"); !ok {
		return "", ErrNoShadow
	}
	cmd := "XSHADOW " + serverID
	asked := peerShadowVersion(c) >= 7
	cmd += shadowMarkArgs(c.present, peerShadowVersion(c))
	codes := peerShadowVersion(c) >= 18
	if codes {
		cmd += " CODES" // version 18: this client reads the codes (listed)
	}
	named := peerShadowVersion(c) >= NameVersion
	if named {
		cmd += " NAME" // version 20: the server states its own name
	}
	c.readFloor()
	lines, err := c.command(cmd)
	if err != nil {
		return "", err
	}
	first := lines[0]
	if codes {
		first = uncoded(first)
	}
	var name string
	if named {
		var ok bool
		if first, name, ok = CutStatedName(first); !ok {
			return "", fmt.Errorf("malformed XSHADOW reply %q: NAME= is no server name", lines[0])
		}
	}
	var mark uint64
	hasMark := false
	if asked {
		// "<db id> MARK=<n>", read as EHLO keywords are: the
		// parameter's name in any case, whitespace around it dropped.
		first = strings.TrimSpace(first)
		if i := strings.LastIndexByte(first, ' '); i >= 0 && len(first)-i > 5 && strings.EqualFold(first[i+1:i+6], "MARK=") {
			mark, hasMark = parseMark(first[i+1:])
			first = first[:i]
		}
	}
	id, err := shadowDatabaseID(append([]string{first}, lines[1:]...))
	if err != nil {
		return "", err
	}
	c.ShadowDB, c.ShadowName, c.ShadowAt = id, name, time.Now()
	c.ShadowVersion = peerShadowVersion(c)
	c.markAsked = asked
	c.codes = codes
	if hasMark && c.OnMark != nil {
		c.OnMark(id, mark, c.floor, c.floorDB)
	}
	return id, nil
}

// ShadowUnoffered asks XSHADOW of a peer whose EHLO did not offer it, for
// its reply: a transport server of the topology that offers no XSHADOW
// to this server refuses the shadow session, and its answer to the verb
// says why (550 5.7.1 when the connection comes from an address the
// topology does not give this server). The bare verb of version 1 is
// sent (no keyword, so no version); a 2xx opens the session at version 1
// as Shadow would.
func (c *Client) ShadowUnoffered(serverID string) (string, error) {
	lines, err := c.command("XSHADOW " + serverID)
	if err != nil {
		return "", err
	}
	id, err := shadowDatabaseID(lines)
	if err != nil {
		return "", err
	}
	c.ShadowDB, c.ShadowName, c.ShadowVersion, c.markAsked, c.codes = id, "", 1, false, false
	c.ShadowAt = time.Now()
	return id, nil
}

// readFloor reads MarkFloor before a command that asks for a mark.
func (c *Client) readFloor() {
	c.floor, c.floorDB = 0, ""
	if c.MarkFloor != nil {
		c.floor, c.floorDB = c.MarkFloor()
	}
}

// presentedMark is this server's rollback mark for the peer and its own
// database id (PresentMark).
type presentedMark struct {
	mark    uint64
	hasMark bool // false: the database id alone (PresentDatabase)
	db      string
}

// PresentMark makes the next Shadow present this server's rollback mark
// for the peer and its transport database id (version 7), as a primary
// opening a session to push copies on receipt does (queue marks.go).
func (c *Client) PresentMark(mark uint64, dbID string) {
	c.present = &presentedMark{mark: mark, hasMark: true, db: dbID}
}

// PresentedMark is the rollback mark (and database id) the last Shadow
// presented, or the next one will (PresentMark); ok is false when none
// is presented (no PresentMark, or the database id alone).
func (c *Client) PresentedMark() (mark uint64, dbID string, ok bool) {
	if c.present == nil || !c.present.hasMark {
		return 0, "", false
	}
	return c.present.mark, c.present.db, true
}

// PresentDatabase makes the next Shadow present this server's transport
// database id without a mark (version 10: "MARK DB=<id>"), for a peer
// this server keeps no mark for; a peer below version 10 is only asked
// for its mark, as before.
func (c *Client) PresentDatabase(dbID string) {
	c.present = &presentedMark{db: dbID}
}

// shadowMarkArgs is what XSHADOW says of marks to a peer of version:
// nothing below 7, else " MARK" asking for the peer's, " MARK=<n>
// DB=<id>" presenting p's, or from 10 " MARK DB=<id>" presenting p's
// database id alone (verbs.go parseMarkArgs reads them:
// FuzzClientShadowArgsRead).
func shadowMarkArgs(p *presentedMark, version int) string {
	switch {
	case version < 7:
		return ""
	case p != nil && p.hasMark:
		return " MARK=" + strconv.FormatUint(p.mark, 10) + " DB=" + p.db
	case p != nil && version >= 10:
		return " MARK DB=" + p.db
	}
	return " MARK"
}

// parseMark reads "MARK=<n>".
func parseMark(f string) (uint64, bool) {
	k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
	if !ok || !strings.EqualFold(k, "MARK") || v == "" || len(v) > 20 {
		return 0, false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// noteQueryMark hands the mark of an XQUERYDISCARD reply's first line to
// OnMark (version 7, when Shadow asked for marks), and keeps it as the
// reply's DiscardMark.
func (c *Client) noteQueryMark(lines []string) {
	c.DiscardMark = 0
	if !c.markAsked || len(lines) == 0 {
		return
	}
	if i := strings.LastIndex(lines[0], " MARK="); i >= 0 {
		if n, ok := parseMark(lines[0][i+1:]); ok {
			c.DiscardMark = n
			if c.OnMark != nil {
				c.OnMark(c.ShadowDB, n, c.floor, c.floorDB)
			}
		}
	}
}

// PeerDatabaseDigest is the digest of its transport database id the
// peer advertised in its last EHLO reply (XSHADOWDB, queue.DatabaseDigest:
// 32 hex digits), "" when it advertised none or a malformed one. The EHLO
// read is the one after STARTTLS when the session uses TLS: the same
// channel the XSHADOW reply would come on.
func (c *Client) PeerDatabaseDigest() string {
	ok, v := c.Extension("XSHADOWDB")
	v = strings.ToLower(strings.TrimSpace(v))
	if !ok || len(v) != 32 {
		return ""
	}
	if _, err := hex.DecodeString(v); err != nil {
		return ""
	}
	return v
}

// Mail is go-smtp's Mail, except that BODY=8BITMIME is declared only
// when opts says the message is 8-bit (opts.Body, RFC 6152): go-smtp
// adds it to every MAIL to a hop that offers 8BITMIME, a 7-bit message
// and umbra's own DSNs included, and the hop would then store and pass
// them on as 8-bit. A 7-bit message goes without the parameter (7BIT is
// the default). The hop lacking 8BITMIME gets no parameter either way
// (delivery refuses it 8-bit content: eightbit.go).
func (c *Client) Mail(from string, opts *gosmtp.MailOptions) error {
	c.sc.mailFrom, c.sc.body8, c.sc.bodySet = from, opts != nil && opts.Body == gosmtp.Body8BitMIME, true
	c.smtputf8 = opts != nil && opts.UTF8
	before := c.sc.writes
	err := c.Client.Mail(from, opts)
	c.sc.mailFrom, c.sc.body8, c.sc.bodySet = "", false, false
	if err = c.notSent("MAIL", before, err); NotSent(err) {
		return err
	}
	if err == nil || !isReply(err) {
		c.txnOpen = true // taken, or no reply read: the peer may be in a transaction
	}
	if badReply(err) {
		c.badReply = true
		err = replyTo("MAIL", err)
	}
	return err
}

// Rcpt is go-smtp's RCPT TO with a reply it could not take named as the
// reply to RCPT (replyTo).
//
// A utf-8 ORCPT (RFC 6533 §3) goes raw (utf-8-addr-unitext) only in a
// transaction that uses SMTPUTF8. go-smtp picks the form by the next
// hop's EHLO: to a hop that offers SMTPUTF8 it writes raw UTF-8 even in
// a MAIL without the SMTPUTF8 parameter, which such a hop refuses (umbra
// does: 501 5.5.4) — a recipient umbra accepted would bounce. Outside an
// SMTPUTF8 transaction the address is handed to go-smtp already as
// utf-8-addr-xtext, all printable ASCII without "+" and "=", which both
// its encoders leave as it is; inside one, as utf-8-addr-unitext, which
// go-smtp's unitext encoder leaves as it is too (and a "\" in the address
// is written "\x{5C}", as RFC 6533 asks and go-smtp does not).
//
// An rfc822 ORCPT that is not printable ASCII (a record a release before
// rr27 stored for the members of a group whose address is not ASCII:
// "rfc822;équipe@…") goes as the utf-8 type, as a DSN's
// Original-Recipient field writes it: go-smtp refuses to write it as
// rfc822, an ASCII type (RFC 3461 §4.2), and the recipient would never
// be sent. A command go-smtp still refuses to write is a NotSentError
// (notsent.go), never taken for a lost connection.
func (c *Client) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if opts != nil && opts.OriginalRecipientType == gosmtp.DSNAddressTypeRFC822 && !printableASCII(opts.OriginalRecipient) {
		o := *opts
		o.OriginalRecipientType = gosmtp.DSNAddressTypeUTF8
		opts = &o
	}
	if opts != nil && ForeignOrcptType(string(opts.OriginalRecipientType)) {
		// go-smtp cannot write an ORCPT of another address type
		// (orcpt.go): left out rather than the recipient failed.
		o := *opts
		o.OriginalRecipientType, o.OriginalRecipient = "", ""
		opts = &o
	}
	if opts != nil && opts.OriginalRecipientType == gosmtp.DSNAddressTypeUTF8 {
		o := *opts
		o.OriginalRecipient = mailaddr.UTF8AddrXtext(opts.OriginalRecipient, c.smtputf8)
		opts = &o
	}
	before := c.sc.writes
	err := c.Client.Rcpt(to, opts)
	if err = c.notSent("RCPT", before, err); NotSent(err) {
		return err
	}
	if badReply(err) {
		c.badReply = true
		err = replyTo("RCPT", err)
	}
	return err
}

// RcptReply is Rcpt returning the next hop's reply to a recipient it
// accepted, code and text as it gave them ("251 2.1.5 User not local;
// will forward" is no "250": a recorded reply is the host's own, RFC
// 3464). go-smtp's Rcpt keeps no reply of a 2yz, so the line it would
// write (rcptline.go) is sent and its reply read here; a line only
// go-smtp makes goes through Rcpt, its success "250".
func (c *Client) RcptReply(to string, opts *gosmtp.RcptOptions) (string, error) {
	dsn, _ := c.Extension("DSN")
	line, ok := appendRcptLine(nil, to, opts, dsn)
	if !ok {
		if err := c.Rcpt(to, opts); err != nil {
			return "", err
		}
		return "250", nil
	}
	defer c.awaitingReply()()
	conn := c.sc.Conn
	conn.SetDeadline(time.Now().Add(c.CommandTimeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(line); err != nil {
		conn.Close()
		return "", err
	}
	code, texts, err := readReplyCode(c.sc.replies())
	if err == nil {
		err = stray(code, texts)
	}
	if err != nil {
		conn.Close() // not read whole, or out of step: never used again
		return "", replyTo("RCPT", err)
	}
	if code/100 != 2 {
		return "", replyOf(code, texts)
	}
	return strconv.Itoa(code) + " " + strings.Join(texts, " "), nil
}

// SetShadowID makes the next MAIL command carry XSHADOW=id (W-3).
func (c *Client) SetShadowID(id string) { c.sc.mailParam = id }

// QueryDiscard asks for up to max discard notifications (W-4).
func (c *Client) QueryDiscard(max int) ([]string, error) {
	if c.markAsked {
		c.readFloor()
	}
	lines, err := c.command(fmt.Sprintf("XQUERYDISCARD %d%s", max, c.partialArg()))
	if err != nil {
		return nil, err
	}
	c.noteQueryMark(lines)
	return discardIDs(c.listed(lines)), nil
}

// listed is a shadow verb's reply as the list readers take it (the
// first line, then one entry a line): from a session that said CODES
// (version 18), each line after the first without its enhanced status
// code.
func (c *Client) listed(lines []string) []string {
	if !c.codes || len(lines) < 2 {
		return lines
	}
	out := make([]string, len(lines))
	out[0] = lines[0]
	for i, l := range lines[1:] {
		out[i+1] = uncoded(l)
	}
	return out
}

// uncoded is a reply line's text without the enhanced status code of a
// success it starts with ("2.0.0 "; RFC 3463's class 2 and its two
// numbers of one to three digits), as a client of version 18 reads it.
// A line without one is returned as it is.
func uncoded(l string) string {
	l = strings.TrimLeft(l, " ")
	code, rest, ok := strings.Cut(l, " ")
	if !ok || !isEnhancedSuccess(code) {
		return l
	}
	return rest
}

// isEnhancedSuccess: s is an enhanced status code of class 2 ("2.x.y").
func isEnhancedSuccess(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != "2" {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || !digitsOnly(p) {
			return false
		}
	}
	return true
}

// shadowConn lies under go-smtp's client. go-smtp has no raw command, so
// the shadow verbs are written and their replies read here while go-smtp
// is idle (the server sends nothing unasked, so go-smtp's reader holds no
// bytes then), and the XSHADOW= parameter is added to go-smtp's MAIL line.
type shadowConn struct {
	net.Conn
	mailParam string
	copyParam string // XSHADOWCOPY=, shadow on receipt (receipt.go)
	copyMark  uint64 // XSHADOWMARK= with it (version 7: queue marks.go), 0 for none

	// The MAIL being written (Client.Mail): its reverse path, and whether
	// the message is 8-bit; without body8 the BODY=8BITMIME go-smtp adds
	// after the path is taken out.
	mailFrom       string
	body8, bodySet bool

	// Pipelining (pipeline.go): while capturing, commands are collected
	// in captured and fake holds the 250s go-smtp reads for them.
	capturing bool
	captured  []byte
	fake      []byte

	// writes counts the calls to Write: a go-smtp call that returns an
	// error without one wrote nothing (notsent.go).
	writes uint64

	// br reads the replies umbra reads itself (the shadow verbs,
	// pipelined transactions, DATA), a buffer at a time rather than a
	// byte at a time (a discard reply of 1,000 ids was 37,000 reads).
	// Bytes it holds beyond a reply are go-smtp's: Read gives them out
	// first, so nothing read ahead is lost to go-smtp's own reader.
	br *bufio.Reader
}

// replies is the session's reader of the replies umbra reads itself.
func (s *shadowConn) replies() *bufio.Reader {
	if s.br == nil {
		s.br = bufio.NewReaderSize(s.Conn, 4096)
	}
	return s.br
}

func (s *shadowConn) Write(b []byte) (int, error) {
	s.writes++ // every write go-smtp tries, captured or failed too (notSent)
	if s.capturing {
		return s.captureWrite(b)
	}
	if line := s.withShadowParams(b); len(line) != len(b) {
		if _, err := s.Conn.Write(line); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return s.Conn.Write(b)
}

func (s *shadowConn) Read(b []byte) (int, error) {
	if s.capturing && len(s.fake) > 0 {
		n := copy(b, s.fake)
		s.fake = s.fake[n:]
		return n, nil
	}
	if s.br != nil && s.br.Buffered() > 0 {
		return s.br.Read(b) // read ahead with a reply umbra read itself
	}
	return s.Conn.Read(b)
}

// withShadowParams adds the pending XSHADOW= and XSHADOWCOPY= parameters
// to a MAIL command (and forgets them), and takes out the BODY=8BITMIME
// go-smtp added to the MAIL of a message that is not 8-bit (Client.Mail);
// other writes are returned as they are.
func (s *shadowConn) withShadowParams(b []byte) []byte {
	if s.mailParam != "" && !shadowid.Valid(s.mailParam) {
		s.mailParam = "" // cannot be an id; never sent (it could hold CR or LF)
	}
	if s.copyParam != "" && !shadowid.Valid(s.copyParam) {
		s.copyParam = ""
	}
	if s.bodySet && !s.body8 && bytes.HasPrefix(b, []byte("MAIL FROM:")) {
		path := len("MAIL FROM:<") + len(s.mailFrom) + len(">")
		if len(b) > path && string(b[:path]) == "MAIL FROM:<"+s.mailFrom+">" && bytes.HasPrefix(b[path:], []byte(" BODY=8BITMIME")) {
			b = append(bytes.Clone(b[:path]), b[path+len(" BODY=8BITMIME"):]...)
		}
		s.bodySet = false
	}
	if (s.mailParam != "" || s.copyParam != "") && bytes.HasPrefix(b, []byte("MAIL FROM:")) && bytes.HasSuffix(b, []byte("\r\n")) {
		line := bytes.Clone(b[:len(b)-2])
		if s.mailParam != "" {
			line = append(line, " XSHADOW="+s.mailParam...)
		}
		if s.copyParam != "" {
			line = append(line, " XSHADOWCOPY="+s.copyParam...)
			if s.copyMark > 0 {
				line = append(line, " XSHADOWMARK="+strconv.FormatUint(s.copyMark, 10)...)
			}
		}
		s.mailParam, s.copyParam, s.copyMark = "", "", 0
		return append(line, "\r\n"...)
	}
	return b
}

// command sends one of umbra's own commands (the shadow verbs, RSET) and
// reads its reply within command_timeout, as every other command's
// (two minutes where none is set); the wait for the reply is the next
// hop's time (SetAwaitReply), as the transaction's replies are.
func (c *Client) command(line string) ([]string, error) {
	d := c.CommandTimeout
	if d <= 0 {
		d = 2 * time.Minute
	}
	return c.commandWithin(line, d)
}

// commandWithin is command with the whole exchange bounded by d.
func (c *Client) commandWithin(line string, d time.Duration) ([]string, error) {
	defer c.awaitingReply()()
	return c.sc.commandWithin(line, d)
}

// commandWithin writes one command and reads its whole reply within d;
// a non-2xx reply is returned as a *gosmtp.SMTPError. It returns the
// reply's texts. Every command goes through Client.command, which
// bounds it by command_timeout (there is no wait of the connection's
// own: a fixed one here was a second, unused, bound).
func (s *shadowConn) commandWithin(line string, d time.Duration) ([]string, error) {
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("command %q holds a CR or LF", line) // never a second command
	}
	s.Conn.SetDeadline(time.Now().Add(d))
	defer s.Conn.SetDeadline(time.Time{})
	if _, err := s.Conn.Write([]byte(line + "\r\n")); err != nil {
		s.Conn.Close()
		return nil, err
	}
	texts, err := readReply(s.replies())
	if verb, _, _ := strings.Cut(line, " "); err != nil {
		err = replyTo(verb, err)
	}
	var rerr *gosmtp.SMTPError
	if err != nil && !errors.As(err, &rerr) {
		// The reply was not read whole (a timeout, a break, a malformed
		// line): the session is out of step and must never speak again.
		// A next command (QUIT of the end of a session, MAIL on a pooled
		// connection) would tell a primary that this server has the
		// discard notifications of a reply it never read, and the primary
		// would forget them (SR-15).
		s.Conn.Close()
	}
	return texts, err
}

// maxReplyLines bounds a shadow verb's reply: XQUERYDISCARD asks for at
// most a few thousand ids.
const maxReplyLines = 10000

// readReply reads one reply up to its last line and returns the text of
// each line. r is the session's reply reader (shadowConn.replies), or a
// plain reader read byte-wise: nothing beyond the reply may be taken from
// a stream go-smtp reads next. A reply other than 2xx is an
// *smtp.SMTPError; a malformed one an error.
func readReply(r io.Reader) ([]string, error) {
	code, texts, err := readReplyCode(r)
	if err != nil {
		return nil, err
	}
	if code/100 != 2 {
		return nil, replyOf(code, texts)
	}
	return texts, nil
}

// readReplyCode reads one reply as readReply does and returns its code
// and the text of each line, whatever the code.
func readReplyCode(r io.Reader) (int, []string, error) {
	var texts []string
	var cur []byte
	first := 0 // the code of the reply's first line
	var next func() (byte, error)
	if br, ok := r.(io.ByteReader); ok {
		next = br.ReadByte
	} else {
		one := make([]byte, 1)
		next = func() (byte, error) { _, err := r.Read(one); return one[0], err }
	}
	for {
		b, err := next()
		if err != nil {
			return 0, nil, err
		}
		cur = append(cur, b)
		if b != '\n' {
			if len(cur) > maxReplyLine {
				return 0, nil, ErrReplyLineTooLong
			}
			continue
		}
		l := strings.TrimRight(string(cur), "\r\n")
		cur = cur[:0]
		if len(l) < 3 {
			return 0, nil, fmt.Errorf("%w %q", errMalformedReply, l)
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil || code < 200 || code > 599 || len(l) > 3 && l[3] != ' ' && l[3] != '-' {
			return 0, nil, fmt.Errorf("%w %q", errMalformedReply, l)
		}
		if len(texts) > 0 && code != first {
			// RFC 5321 §4.2.1: one code for every line of a reply. A
			// reply mixing them (a 550 line, then a 250 one) has no
			// meaning to act on: taking its last line would count a
			// refusal as a delivery.
			return 0, nil, fmt.Errorf("%w: a line %q in a reply with code %d", ErrReplyMixedCodes, l, first)
		}
		first = code
		text := ""
		if len(l) > 4 {
			text = l[4:]
		}
		texts = append(texts, text)
		if len(texts) > maxReplyLines {
			return 0, nil, ErrReplyTooLong
		}
		if len(l) == 3 || l[3] == ' ' {
			return code, texts, nil
		}
	}
}

// unexpectedReply is umbra's 451 4.4.2 for a reply that is neither
// the one the command asks for nor an error (a 250 or a stray 3xx to
// DATA): the next hop broke the protocol, and the reply it gave must
// not stand as the reason a message waits (a "250" deferral).
func (c *Client) unexpectedReply(cmd string, code int, texts []string) *gosmtp.SMTPError {
	msg := fmt.Sprintf("unexpected reply to %s: %d %s", cmd, code, strings.Join(texts, " "))
	if c.hop != "" {
		msg = c.hop + ": " + msg
	}
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: msg}
}

// stray is the error of a 3xx reply where only a 2xx, 4xx or 5xx may
// come (to MAIL, RCPT, BDAT, the end of a message): the session is out
// of step and ends; nil for any other code.
func stray(code int, texts []string) error {
	if code/100 != 3 {
		return nil
	}
	return fmt.Errorf("%w %q", errUnexpectedReply, fmt.Sprintf("%d %s", code, strings.Join(texts, " ")))
}

// Stray reports whether err is a stray 3xx reply where only a 2xx, 4xx
// or 5xx may come (stray): the next hop answered, out of step.
func Stray(err error) bool { return errors.Is(err, errUnexpectedReply) }

// StrayQuoted is the stray reply err holds, quoted as stray wrote it
// ("\"354 go ahead\""), whatever names the command before it ("reply
// to MAIL: …"); "" when err is no stray reply.
func StrayQuoted(err error) string {
	if !Stray(err) {
		return ""
	}
	_, quoted, _ := strings.Cut(err.Error(), errUnexpectedReply.Error()+" ")
	return quoted
}

// errMalformedReply and errUnexpectedReply are a reply line that does
// not parse and a 3xx where a final reply was due (stray).
var (
	errMalformedReply  = errors.New("malformed reply")
	errUnexpectedReply = errors.New("unexpected reply")
)

// DataReply is one reply to the end of the message: for LMTP there is
// one per accepted recipient, in RCPT order.
type DataReply struct {
	// Code is the next hop's 2yz as it gave it (251, 252, 299 are
	// success as much as 250, and a DSN quotes the host's own reply:
	// RFC 3464 §2.3.6); 0 with Err.
	Code int
	Text string // the text after a 2xx code
	Err  error  // a *gosmtp.SMTPError for 4xx and 5xx
}

// Reply is a successful reply whole, code and text as the next hop gave
// them ("" for an error reply).
func (r DataReply) Reply() string {
	if r.Err != nil {
		return ""
	}
	code := r.Code
	if code == 0 {
		code = 250 // a reply made without its code (not read from a next hop)
	}
	return strconv.Itoa(code) + " " + r.Text
}

// SendData sends DATA and then the whole message in one write,
// dot-stuffed with CRLF line ends exactly as go-smtp's DATA writer would
// send it (which goes byte by byte), and reads n final replies: 1 for
// SMTP, one per accepted recipient for LMTP. An error means the
// connection can no longer be trusted.
func (c *Client) SendData(body []byte, n int) ([]DataReply, error) {
	return c.SendDataParts([][]byte{body}, n)
}

// SendDataParts is SendData for a message given in parts sent one after
// the other, each but the last ending with a line feed (orgid.Parts).
func (c *Client) SendDataParts(parts [][]byte, n int) ([]DataReply, error) {
	return c.sendData(parts, nil, n)
}

// sendData is SendDataParts with an optional tail read after the parts
// (SendDataStream, stream.go).
func (c *Client) sendData(parts [][]byte, tail io.Reader, n int) ([]DataReply, error) {
	conn, br := c.sc.Conn, c.sc.replies()
	conn.SetDeadline(time.Now().Add(c.CommandTimeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte("DATA\r\n")); err != nil {
		return nil, err
	}
	replied := c.awaitingReply()
	code, texts, err := readReplyCode(br)
	replied()
	if err != nil {
		return nil, replyTo("DATA", err)
	}
	if code < 400 && code != 354 {
		c.sc.Conn.Close() // out of step: not used again
		return nil, c.unexpectedReply("DATA", code, texts)
	}
	if code != 354 {
		return nil, replyOf(code, texts)
	}
	if c.onGoAhead != nil {
		c.onGoAhead() // SetOnGoAhead: the host answered DATA
	}
	if !c.beginBody() {
		conn.Close()
		return nil, errAborted // no byte of the body sent (AbortUnlessBodyBegun)
	}
	c.dataSent = true
	watch := watchBody(conn, c.CommandTimeout) // bodywatch.go: progress, not a deadline per write
	defer watch.stop()
	emit, flush := bodyWrites(watch, parts, tail)
	err = stuffBody(parts, tail, dataChunk, emit)
	if err == nil {
		err = flush()
	}
	watch.awaitReply(c.SubmissionTimeout) // the reply to the final dot
	if err != nil {
		// The content could not be read (a spool file cut short) or
		// written: the transaction is abandoned without its final ".",
		// and the connection closed, so that nothing sent later on it
		// can end this DATA with what was sent so far.
		conn.Close()
		return nil, err
	}
	defer c.awaitingReply()()
	return c.finalReplies(br, watch, nil, n)
}

// AppendDotStuffed appends body as the DATA payload of RFC 5321: lines
// starting with a dot get another, every bare LF and bare CR becomes CRLF
// (umbra never sends a bare CR or LF: a next hop that ends DATA at
// "<CR>.<CR>" or "<LF>.<LF>" must not split a message), and the end is
// marked by CRLF.CRLF. For bodies without bare CR this is byte for byte
// what net/textproto's DotWriter writes, but copying runs of bytes
// instead of one byte at a time.
func AppendDotStuffed(dst, b []byte) []byte {
	if len(b) == 0 {
		return append(dst, "\r\n.\r\n"...)
	}
	dst, lineStart := appendStuffed(dst, b, true)
	if !lineStart {
		dst = append(dst, '\r', '\n')
	}
	return append(dst, ".\r\n"...)
}

// appendStuffed dot-stuffs b, which starts a line when lineStart is set,
// and says whether it ended at the start of a line.
func appendStuffed(dst, b []byte, lineStart bool) ([]byte, bool) {
	for len(b) > 0 {
		if lineStart && b[0] == '.' {
			dst = append(dst, '.')
		}
		lineStart = false
		j := bytes.IndexByte(b, '\n')
		run := b
		if j >= 0 {
			run = b[:j]
		}
		if k := bytes.IndexByte(run, '\r'); k >= 0 && k != j-1 {
			// A bare CR ends its line.
			dst, b, lineStart = append(append(dst, b[:k]...), '\r', '\n'), b[k+1:], true
			continue
		}
		if j < 0 {
			dst, b = append(dst, b...), nil
			break
		}
		dst = append(dst, bytes.TrimSuffix(run, []byte("\r"))...)
		dst, b, lineStart = append(dst, '\r', '\n'), b[j+1:], true
	}
	return dst, lineStart
}

// dataChunk is how much of a body SendData dot-stuffs and writes at a
// time: its buffer is bounded by it (plus the longest line), not by the
// message size.
var dataChunk = 64 << 10

// stuffChunks emits the DATA payload of body (as AppendDotStuffed makes
// it) in pieces of about chunk bytes, cut after a line feed, reusing one
// buffer: emit must not keep the slice.
func stuffChunks(body []byte, chunk int, emit func([]byte) error) error {
	if len(body) == 0 {
		return emit([]byte("\r\n.\r\n"))
	}
	return stuffPart(body, chunk, true, emit)
}

// stuffPart is stuffChunks for a non-empty part of a message: last says
// whether the end marker follows it.
func stuffPart(body []byte, chunk int, last bool, emit func([]byte) error) error {
	if asSent(body) {
		// The common case: nothing to stuff or mend. The part goes out
		// as it is, without a copy or a pass line by line.
		if err := emit(body); err != nil {
			return err
		}
		if !last {
			return nil
		}
		if body[len(body)-1] != '\n' {
			return emit([]byte("\r\n.\r\n"))
		}
		return emit([]byte(".\r\n"))
	}
	buf := stuffBuf(min(len(body), chunk) + min(len(body), chunk)/64 + 8) // bodyscan.go
	defer func() { putStuffBuf(buf) }()                                   // emit keeps no part of it
	lineStart := true
	for rest := body; len(rest) > 0; {
		seg := rest
		if len(seg) > chunk {
			if j := bytes.IndexByte(seg[chunk:], '\n'); j >= 0 {
				seg = seg[:chunk+j+1]
			}
		}
		rest = rest[len(seg):]
		buf, lineStart = appendStuffed(buf[:0], seg, lineStart)
		if len(rest) == 0 && last {
			if !lineStart {
				buf = append(buf, '\r', '\n')
			}
			buf = append(buf, ".\r\n"...)
		}
		if err := emit(buf); err != nil {
			return err
		}
	}
	return nil
}

// asSent reports whether a non-empty body starting a line is its own
// DATA payload (before the end marker): no line starts with a dot, and
// every CR and LF is part of a CRLF. appendStuffed would copy it
// unchanged. One search per line and a vectorised count of CRs.
func asSent(b []byte) bool {
	if len(b) == 0 || b[0] == '.' {
		return false
	}
	lf := 0
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		j += i
		if j == 0 || b[j-1] != '\r' || j+1 < len(b) && b[j+1] == '.' {
			return false
		}
		lf++
		i = j + 1
	}
	return bytes.Count(b, crByte) == lf
}

// shadowDatabaseID checks the id in a XSHADOW reply (W-2): one token of
// the form every shadow verb and the operator's forget-database take
// (shadowid.Valid), so an id recorded from a reply can be named again. A
// malformed one is an error (a failed heartbeat), never a "new database"
// that would trigger a takeover.
func shadowDatabaseID(lines []string) (string, error) {
	id := strings.TrimSpace(lines[0])
	if !shadowid.Valid(id) {
		return "", fmt.Errorf("malformed XSHADOW reply %q", id)
	}
	return id, nil
}

// discardIDs reads an XQUERYDISCARD reply (W-4): the first line counts
// the ids, one per following line — or, from version 9, a partial
// discard "<id> RCPT=<xtext address>", kept in that form (the queue
// reads it: queue.ParsePartialDiscard), or from version 11 a message
// given to this server "<id> TAKEOVER" (queue.HandBackSuffix), or from
// version 17 a delay note "<id> DELAYED" (queue.DelayNoteSuffix). Lines that are neither a valid
// shadow message id nor a well-formed partial discard of one are
// dropped: they can match no copy.
func discardIDs(lines []string) []string {
	var ids []string
	for _, l := range lines[1:] {
		id := strings.TrimSpace(l)
		if shadowid.Valid(id) {
			ids = append(ids, id)
			continue
		}
		if cid, ok := strings.CutSuffix(id, queue.HandBackSuffix); ok && shadowid.Valid(cid) {
			ids = append(ids, id) // version 11: the message is given to this server (queue handback.go)
			continue
		}
		if cid, ok := strings.CutSuffix(id, queue.DelayNoteSuffix); ok && shadowid.Valid(cid) {
			ids = append(ids, id) // version 17: the primary sent the copy's delay DSN (queue delaynote.go)
			continue
		}
		if pd, ok := queue.ParsePartialDiscard(id); ok && shadowid.Valid(pd.ID) {
			ids = append(ids, pd.Wire())
		}
	}
	return ids
}

// prelude reads the greeting and, when policy asks for it, negotiates
// STARTTLS. It returns the connection go-smtp should use, with a
// greeting to replay in front of it.
func prelude(conn net.Conn, o ClientOptions) (net.Conn, bool, error) {
	// command_timeout bounds each step (the greeting, EHLO, STARTTLS,
	// the handshake, EHLO over TLS, HELO, LHLO), never the opening
	// whole: a next hop slow at each step is slow, not dead.
	step := func() { conn.SetDeadline(time.Now().Add(o.CommandTimeout)) }
	step()
	o.stage("greeting")
	tp := textproto.NewConn(newReplyLimitConn(conn)) // replylimit.go
	code, msg, err := tp.ReadResponse(220)
	if err != nil {
		if _, ok := replyError(code, msg, err).(*gosmtp.SMTPError); ok {
			quitInStep(tp, conn) // a greeting that refuses the session (554): RFC 5321 §3.1
		}
		return nil, false, &StageError{Stage: "greeting", Err: replyError(code, msg, err)}
	}
	greeting := fmt.Sprintf("220 %s\r\n", firstLine(msg))
	step()
	if o.LMTP {
		return lhlo(tp, conn, greeting, o.LocalName)
	}
	if err := tp.PrintfLine("EHLO %s", o.LocalName); err != nil {
		return nil, false, err
	}
	o.stage("reply to EHLO")
	code, msg, err = tp.ReadResponse(250)
	if err != nil {
		rerr := replyError(code, msg, err)
		if !ehloUnknown(rerr) {
			if _, ok := rerr.(*gosmtp.SMTPError); ok {
				quitInStep(tp, conn)
			}
			return nil, false, &StageError{Stage: "reply to EHLO", Err: rerr}
		}
		step()
		return helo(tp, conn, o, greeting, rerr)
	}
	msg = NormalizeEHLO(msg) // once: every check below and go-smtp read this
	if o.TLS == TLSNone {
		// go-smtp greets again; its EHLO is answered with the reply just
		// read instead of a second round trip.
		return &replayConn{Conn: conn, prefix: []byte(greeting),
			ehlo: "EHLO " + o.LocalName + "\r\n", ehloReply: ehloWire(msg)}, false, nil
	}
	if !ehloOffers(msg, "STARTTLS") {
		if o.TLS == TLSOpportunistic {
			// go-smtp greets again; its EHLO is answered with the reply
			// just read instead of a second round trip.
			return &replayConn{Conn: conn, prefix: []byte(greeting),
				ehlo: "EHLO " + o.LocalName + "\r\n", ehloReply: ehloWire(msg)}, false, nil
		}
		quitInStep(tp, conn)
		return nil, false, &tlsUnavailable{cause: ErrSTARTTLSNotOffered}
	}
	step()
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, false, err
	}
	o.stage("STARTTLS")
	if code, msg, err = tp.ReadResponse(220); err != nil {
		rerr := replyError(code, msg, err)
		if _, ok := rerr.(*gosmtp.SMTPError); ok {
			quitInStep(tp, conn) // refused: the session is in step, in plaintext
		}
		return nil, false, &tlsUnavailable{cause: ErrSTARTTLSRefused, err: rerr}
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.RootCAs != nil {
		cfg = o.RootCAs.Clone()
	}
	if o.VerifyConnection != nil {
		cfg.ServerName = o.ServerName // SNI
		cfg.InsecureSkipVerify = true // the callback authenticates instead
		cfg.VerifyConnection = o.VerifyConnection
	} else if o.TLS == TLSVerify {
		cfg.ServerName = o.ServerName
	} else {
		cfg.InsecureSkipVerify = true // encryption without authentication, by policy
	}
	tc := tls.Client(conn, cfg)
	step()
	if err := tc.Handshake(); err != nil {
		return nil, false, &tlsUnavailable{cause: ErrTLSHandshake, err: err}
	}
	// EHLO again over TLS (RFC 3207 §4.2), here, so that its keywords
	// are read as every other EHLO reply is (NormalizeEHLO); go-smtp's
	// own EHLO is answered with it. After STARTTLS the server sends no
	// new greeting; go-smtp expects one.
	ttp := textproto.NewConn(newReplyLimitConn(tc))
	tlsGreeting := "220 " + o.ServerName + " TLS established\r\n"
	step()
	if err := ttp.PrintfLine("EHLO %s", o.LocalName); err != nil {
		return nil, false, err
	}
	if code, msg, err = ttp.ReadResponse(250); err != nil {
		rerr := replyError(code, msg, err)
		if !ehloUnknown(rerr) {
			if _, ok := rerr.(*gosmtp.SMTPError); ok {
				quitInStep(ttp, tc)
			}
			return nil, false, &StageError{Stage: "reply to EHLO", Err: rerr}
		}
		// Refused as the first EHLO may be: HELO, as after it. TLS stays
		// up, so a policy that requires it is met; the session has no
		// extensions.
		step()
		return heloOver(ttp, tc, o.LocalName, tlsGreeting, rerr, true)
	}
	return &replayConn{Conn: tc, prefix: []byte(tlsGreeting),
		ehlo: "EHLO " + o.LocalName + "\r\n", ehloReply: ehloWire(NormalizeEHLO(msg))}, true, nil
}

// ehloUnknown: err is a reply by which a server refuses EHLO as a
// command it does not take (RFC 5321 §4.1.4 names 500, 501, 502 and 550;
// 504 is "not implemented" too): the client greets with HELO instead.
func ehloUnknown(err error) bool {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case 500, 501, 502, 504, 550:
		return true
	}
	return false
}

// helo greets with HELO on the same connection after the server refused
// the first EHLO (ehloErr; RFC 5321 §3.2: the client falls back to
// HELO). The session goes on without extensions: no STARTTLS, so a
// policy that requires TLS fails the host as for a host that does not
// offer it, quoting the EHLO refusal.
func helo(tp *textproto.Conn, conn net.Conn, o ClientOptions, greeting string, ehloErr error) (net.Conn, bool, error) {
	c, _, err := heloOver(tp, conn, o.LocalName, greeting, ehloErr, false)
	if err != nil {
		return nil, false, err // a refused HELO is the opening's refusal, whatever the policy
	}
	if o.TLS != TLSNone && o.TLS != TLSOpportunistic {
		quitInStep(tp, conn)
		return nil, false, &tlsUnavailable{cause: ErrSTARTTLSNotOffered, err: &ehloRefused{ehloErr}}
	}
	return c, false, nil
}

// heloOver sends HELO on conn (tp over it) after the server refused EHLO
// (ehloErr): before STARTTLS (helo) or after it (useTLS: TLS is up and
// stays so; RFC 3207 §4.2's EHLO again was refused). A refused HELO is
// the opening's refusal (stage "reply to HELO"). go-smtp's own EHLO is
// answered with a bare 250 (the HELO reply's text) after greeting: it
// then knows no extension, and sends no parameter, on this session.
func heloOver(tp *textproto.Conn, conn net.Conn, localName, greeting string, ehloErr error, useTLS bool) (net.Conn, bool, error) {
	if err := tp.PrintfLine("HELO %s", localName); err != nil {
		return nil, false, err
	}
	code, msg, err := tp.ReadResponse(250)
	if err != nil {
		rerr := replyError(code, msg, err)
		if _, ok := rerr.(*gosmtp.SMTPError); ok {
			quitInStep(tp, conn)
		}
		return nil, false, &StageError{Stage: "reply to HELO", Err: rerr}
	}
	return &replayConn{Conn: conn, prefix: []byte(greeting), ehloRefused: Reply(ehloErr),
		ehlo: "EHLO " + localName + "\r\n", ehloReply: rawReply(250, firstLine(msg))}, useTLS, nil
}

// ehloRefused is the reply of a server that refused EHLO and took HELO:
// what it offers is nothing (no STARTTLS, no AUTH).
type ehloRefused struct{ err error }

func (e *ehloRefused) Error() string { return ehloRefusedText(Reply(e.err)) }

// ehloRefusedText says that the next hop refused EHLO with reply and
// the session went on with HELO.
func ehloRefusedText(reply string) string {
	return "EHLO refused (" + reply + "), greeted with HELO: no extensions"
}

// ErrNotLMTP is the error of a next hop that refused LHLO as an unknown
// command (500, 502): an SMTP server where an LMTP server was meant (a
// mailbox server's address with the MTA's port).
var ErrNotLMTP = errors.New("next hop does not speak LMTP")

// notLMTP is ErrNotLMTP with the reply to LHLO. It does not unwrap to
// the reply: that 5xx is about the command, not about the message or
// its recipients, and the next hop is to be deferred, never failed.
type notLMTP struct{ reply string }

func (e *notLMTP) Error() string {
	return ErrNotLMTP.Error() + " (LHLO answered " + e.reply + ")"
}

func (e *notLMTP) Is(target error) bool { return target == ErrNotLMTP }

// lhlo greets an LMTP server. go-smtp, refused LHLO as an unknown
// command, would greet again with HELO and run an SMTP transaction, whose
// one reply after DATA it would then take for the first recipient's and
// wait for the others' until the data timeout: the message delivered
// once, or failed with another server's refusal. So LHLO is sent here;
// a refusal ends the session, and go-smtp's own LHLO is answered with
// the reply read here.
func lhlo(tp *textproto.Conn, conn net.Conn, greeting, localName string) (net.Conn, bool, error) {
	if err := tp.PrintfLine("LHLO %s", localName); err != nil {
		return nil, false, err
	}
	code, msg, err := tp.ReadResponse(250)
	if err != nil {
		rerr := replyError(code, msg, err)
		if _, ok := rerr.(*gosmtp.SMTPError); ok {
			quitInStep(tp, conn)
		}
		if se := (*gosmtp.SMTPError)(nil); errors.As(rerr, &se) && (se.Code == 500 || se.Code == 502) {
			return nil, false, &notLMTP{reply: Reply(rerr)}
		}
		return nil, false, &StageError{Stage: "reply to LHLO", Err: rerr}
	}
	return &replayConn{Conn: conn, prefix: []byte(greeting),
		ehlo: "LHLO " + localName + "\r\n", ehloReply: ehloWire(NormalizeEHLO(msg))}, false, nil
}

// quitInStep ends an opening the server is still in step with (it
// answered the last command, with a refusal, or the policy refused what
// it offered): QUIT, its reply read for at most quitWait, before the
// caller closes the connection (RFC 5321 §4.1.1.10; RFC 3207 §4.1: a
// client that decides not to go on without TLS sends QUIT). A server
// that does not answer costs the failure at most quitWait, and never
// more than the caller's context leaves (openbound.go caps the deadline).
func quitInStep(tp *textproto.Conn, conn net.Conn) {
	conn.SetDeadline(time.Now().Add(quitWait))
	if tp.PrintfLine("QUIT") == nil {
		tp.ReadResponse(221)
	}
}

// quitWait bounds the QUIT of an opening that ends (quitInStep).
var quitWait = 2 * time.Second

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// replyError turns a textproto error into a *gosmtp.SMTPError where the
// server replied, so callers can tell 4xx from 5xx.
func replyError(code int, msg string, err error) error {
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return parseSMTPError(pe.Code, pe.Msg)
	}
	if code != 0 {
		return parseSMTPError(code, msg)
	}
	return err
}

// replayConn serves prefix before reading from the connection. When
// ehlo is set, the first write of exactly that command is not sent: its
// reply, ehloReply, is served instead (the prelude's EHLO already has it).
type replayConn struct {
	net.Conn
	prefix    []byte
	ehlo      string
	ehloReply []byte
	// ehloRefused is the server's reply to EHLO when it refused it and
	// took HELO (helo), "" otherwise.
	ehloRefused string
}

func (r *replayConn) Write(b []byte) (int, error) {
	if r.ehlo != "" {
		if string(b) == r.ehlo && len(r.prefix) == 0 {
			r.ehlo, r.prefix = "", r.ehloReply
			return len(b), nil
		}
		r.ehlo = "" // anything else: the connection speaks for itself
	}
	return r.Conn.Write(b)
}

// rawReply writes a reply read by textproto (lines joined by "\n") back
// in wire form.
func rawReply(code int, msg string) []byte {
	lines := strings.Split(msg, "\n")
	var b bytes.Buffer
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
	}
	return b.Bytes()
}

func (r *replayConn) Read(b []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(b, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	return r.Conn.Read(b)
}

// Reply formats a server reply or error as "code x.y.z text" for logs,
// DSNs and the queue.
func Reply(err error) string {
	if st := (*StageError)(nil); errors.As(err, &st) {
		err = st.Err // the stage is the caller's to name (Stage)
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%d", se.Code)
		if se.EnhancedCode != (gosmtp.EnhancedCode{}) && se.EnhancedCode != gosmtp.NoEnhancedCode {
			fmt.Fprintf(&b, " %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		b.WriteString(" " + strings.ReplaceAll(se.Message, "\n", " "))
		return b.String()
	}
	return err.Error()
}

// StageError is an error of a session's opening, with the step it
// happened at: "greeting", "reply to EHLO", "reply to LHLO". A caller
// names the step (Stage) so that a reason says which reply failed, not
// "greeting" for all of them.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Stage is the step of a session's opening err happened at, or "".
func Stage(err error) string {
	if st := (*StageError)(nil); errors.As(err, &st) {
		return st.Stage
	}
	return ""
}

// Permanent reports whether err is a 5xx reply.
func Permanent(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code < 600
}

// Alive reports, without a round trip, whether an idle connection can
// carry the next transaction: the server has neither closed it nor sent
// anything unasked (a 421 before closing, a TLS alert). It peeks at the
// socket without blocking; a connection it cannot peek at is asked with
// NOOP. A pooled connection is checked with it. It is a hint, not a
// promise: a close on its way is not seen, so a caller that reuses a
// connection must take a session that ends at its next command for a
// connection that was gone (delivery's reuse).
func (c *Client) Alive() bool {
	if c.txnOpen {
		// A transaction may be open at the peer (a refused DATA, an
		// RSET that failed): the next MAIL would be refused as nested.
		return false
	}
	if c.outOfStep() {
		// The server spoke unasked and its words were read ahead with
		// the last reply (a 421 behind the 250 to DATA, its close not
		// seen yet); a reply was cut at its deadline or past a bound,
		// never came, or came malformed; the server sent part of a
		// line unasked (replylimit.go): the session is out of step.
		return false
	}
	nc := c.conn
	for {
		switch x := nc.(type) {
		case *replayConn:
			nc = x.Conn
			continue
		case *tls.Conn:
			nc = x.NetConn()
			continue
		case *peerWriteConn:
			nc = x.Conn
			continue
		}
		break
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return c.Noop() == nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var perr error
	var b [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	// Nothing to read yet: alive. Bytes: the server spoke unasked. Zero
	// bytes without an error: it closed.
	return n <= 0 && (errors.Is(perr, syscall.EAGAIN) || errors.Is(perr, syscall.EWOULDBLOCK))
}

// RemoteAddr is the peer's address (host:port).
func (c *Client) RemoteAddr() string { return c.conn.RemoteAddr().String() }
