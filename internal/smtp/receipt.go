package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/shadowid"
)

// Shadow on receipt (SPEC SR-17), the receiving end: a primary that took
// a message from a sender that cannot shadow pushes a copy here before it
// answers its sender. Version 3 of the shadow verbs adds one MAIL
// parameter for it, in a shadow session (after XSHADOW <primary>):
//
//	MAIL FROM:<…> XSHADOWCOPY=<the primary's transport database id>
//
// The message that follows is kept as a shadow copy held for the
// session's server — never delivered, its recipients Shadowed at that
// primary, the primary watched (heartbeats, discards, takeover, SR-7) as
// for any copy this server made itself. Its shadow id is its organisation
// message id (the X-Umbra- header the primary sends with it), so the
// primary's XQUERYDISCARD replies name it. Replies: 250 2.0.0 once the
// copy is fsync'd; 503 5.5.1 outside a shadow session or when this server
// does not offer version 3; 501 5.5.4 for a malformed id or together with
// XSHADOW=; 554 5.6.0 for a copy without a valid organisation message id;
// 554 5.5.1 at the end of a copy when a command of its transaction (its
// MAIL, a RCPT, a BDAT) was refused — the copy is all or nothing, so a
// primary may send the body before it saw the recipients' replies
// (version 5, pushone.go).

// ShadowCopier keeps shadow copies pushed on receipt (queue.Manager). A
// server whose queue is one offers version 3 of the shadow verbs.
// The body may be spooled: from the call on its spool file is the
// queue's (named by the copy, or removed when nothing is kept), except
// when the call fails.
type ShadowCopier interface {
	SubmitShadowCopyBody(ctx context.Context, m *queue.Message, body queue.Body, primary, addr, dbID string) (bool, error)
}

// SingleCopyMarker marks a message held by this server only after its
// copy on receipt failed past the commit that named the shadow server
// (queue.Manager); refused is the server's reply when it refused the
// copy, "" when the push failed without one.
type SingleCopyMarker interface {
	MarkSingleCopy(id queue.ID, server, refused string) error
}

// UntrackedSingleCopyMarker is a SingleCopyMarker that can mark without
// the "single-copy" tracking event, written later by TrackSingleCopy
// (queue.Manager): the receipt marks before it tries the next
// candidate, and writes the event only when it ends with the message
// held here only (rcptmark45 item 2).
type UntrackedSingleCopyMarker interface {
	MarkSingleCopyUntracked(id queue.ID, server, refused string) error
	TrackSingleCopy(id queue.ID)
}

// ReceiptLeftChecker is implemented by a queue that can tell whether a
// message left this server (delivered, relayed, failed with its DSN)
// before its copy on receipt gave up (queue.Manager.LeftBeforeCopy): its
// first attempt starts at the commit, and a hung shadow server holds
// the push to its bound. Such a message is not reported as held by this
// server only. An error is no answer (its read failed): the receipt then
// neither claims nor denies that the message left (receipt48 item 1).
type ReceiptLeftChecker interface {
	LeftBeforeCopy(id queue.ID) (bool, error)
}

// ReceiptCopyConfirmer is implemented by a queue that notes a push on
// receipt in flight in the commit naming its server
// (Message.PushOnReceipt): the push's success is reported to it, so that
// a restart marks held by this server only only the messages whose push
// a stop cut short (queue pushcrash.go).
type ReceiptCopyConfirmer interface {
	ReceiptCopyConfirmed(id queue.ID)
}

// ReceiptLinkTried is implemented by a ReceiptLink that knows the
// candidates its Open tried before its server and that took no session
// for the copy (down, of an older version, its SIZE below the copy):
// each was a try of the retry budgets, as the link's server is when its
// push fails, and a copy made again within the receipt (RecopyRefused)
// is passed them as tried (delivery receiptLink).
type ReceiptLinkTried interface {
	TriedBefore() []string
}

// ReceiptLinkMayHold is implemented by a ReceiptLink that knows whether
// its failed push may have left the copy stored on its server: a try
// that got no reply once the copy was sent (the session broke, was
// reset, or hung past its bound). A push every try of which the server
// answered (any reply, a 421 included, at MAIL, RCPT, DATA or the
// data's end) left nothing there: the server is not kept as one that
// may hold the copy, nor owed its discard (receipt42 item 2). Without
// it, a reply is taken so and any other failure as one that may hold
// (linkMayHold).
type ReceiptLinkMayHold interface {
	MayHold() bool
}

// linkMayHold reports whether link's push, which failed with err, may
// have left the copy on its server (ReceiptLinkMayHold).
func linkMayHold(link ReceiptLink, err error) bool {
	if lh, ok := link.(ReceiptLinkMayHold); ok {
		return lh.MayHold()
	}
	return !isReply(err)
}

// ReceiptRecopier is implemented by a ReceiptShadow that can make a
// copy whose push failed after the commit — refused, not answered in
// time, or its session ended mid-way — on the next candidate within the
// same receipt (delivery.ReceiptShadow): the message marked held by this
// server only is copied again, by preference pref, to a server other
// than those in tried (which count against the retry budgets), and its
// record then names that server. It returns the server that keeps the
// copy, "" when none did.
type ReceiptRecopier interface {
	RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error)
}

// LeftDiscardHander is a ReceiptRecopier (delivery.ReceiptShadow) that
// hands, before the 250, the discards owed to the servers that may hold
// the copy of a message that left this server before its copy on
// receipt was confirmed (HandLeftDiscards): its record may be gone, so
// they are found by the org id.
type LeftDiscardHander interface {
	HandLeftDiscards(ctx context.Context, id queue.ID, orgID string, servers []string)
}

// CopyMayBeHeldError is a ReceiptRecopier's failure one of whose pushes
// got no reply once its copy was sent (cut after its data, or hung past
// its bound): Servers may hold the copy, and are owed its discard. A
// message that left this server meanwhile is told so (rcpt44 item 2).
type CopyMayBeHeldError struct {
	Servers []string
	Err     error
}

func (e *CopyMayBeHeldError) Error() string { return e.Err.Error() }
func (e *CopyMayBeHeldError) Unwrap() error { return e.Err }

// ReceiptRecopyHolder is implemented by a ReceiptRecopier whose
// made-again pass must leave a message alone while its receive session
// makes the copy (delivery.ReceiptShadow, rt20h-F1): the session holds
// the message from its push until it answered — through the mark of a
// failed push and RecopyRefused — so that no push of another goroutine
// goes to the server the session gave up on, and the record names the
// server the reply names.
type ReceiptRecopyHolder interface {
	HoldRecopy(id queue.ID) (release func())
}

// MarkedCopier keeps copies whose primary presented its rollback mark
// with them (XSHADOWMARK=, version 7): the commit also raises the mark
// seen for that primary (queue.Manager, marks.go).
type MarkedCopier interface {
	SubmitShadowCopiesMarked(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string, mark uint64) ([]queue.CopyResult, error)
}

// serverAddresses gives a server's SMTP address from the topology
// (routing.Topology), where heartbeats to a primary go.
type serverAddresses interface {
	Server(name string) (*routing.Server, bool)
}

// copyParams takes XSHADOWCOPY=<database-id> (with XSHADOWBATCH= and
// XSHADOWMARK=) off a MAIL command and gives it to the session.
func (v *verbConn) copyParams(ml *mailLine) string {
	// Each keyword comes once at most: checkParams refused one given
	// twice before this runs (mailParams).
	copies, marks, batches := ml.take("XSHADOWCOPY"), ml.take("XSHADOWMARK"), ml.take("XSHADOWBATCH")
	db, found := "", len(copies) > 0
	if found {
		db = copies[0].value
	}
	batch := 0
	ss := v.sess()
	if !found { // no copy: pendingCopyDB and the rest forgotten at every MAIL (mailParams)
		if len(batches) > 0 {
			return "501 5.5.4 XSHADOWBATCH= needs XSHADOWCOPY="
		}
		if len(marks) > 0 {
			return "501 5.5.4 XSHADOWMARK= needs XSHADOWCOPY="
		}
		return ""
	}
	switch {
	case ss == nil || ss.shadowServer == "":
		return "503 5.5.1 XSHADOWCOPY parameter outside a shadow session"
	case ss.shadowDeparted:
		return ss.departedVerbRefusal("a new shadow copy") // departed.go
	case ss.shadowVersion() < 3:
		return "503 5.5.1 XSHADOWCOPY not offered"
	case ss.pendingShadowID != "":
		return "501 5.5.4 XSHADOWCOPY= and XSHADOW= exclude each other"
	case !shadowid.Valid(db):
		return "501 5.5.4 XSHADOWCOPY= needs a database id of " + shadowid.Syntax
	}
	// The id names the primary the copy is kept for: one this server
	// keeps as another primary's is refused as at XSHADOW (rt17f-F1).
	if r := ss.databaseOfAnother(ss.shadowServer, db); r != "" {
		ss.pendingCopyDB, ss.pendingBatch, ss.pendingCopyMark = "", 0, 0
		return r
	}
	// Nor is a copy kept under another id than the one the session's
	// XSHADOW presented (DB=, shadowPeerDB): the primary said there which
	// database it runs on, and a copy under another id would set that
	// id on its record here — read as the primary returned with a new
	// database, every copy of it taken over while it delivers them
	// itself (receiptcopy.go), and again at its next XSHADOW with its
	// own id. A session whose XSHADOW presented none checks nothing.
	if ss.shadowPeerDB != "" && db != ss.shadowPeerDB {
		ss.pendingCopyDB, ss.pendingBatch, ss.pendingCopyMark = "", 0, 0
		reply := &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
			Message: "Database id " + db + " is not the one this session presented (" + ss.shadowPeerDB + "); nothing changed"}
		// Paced as a copy with no organisation message id is (keepCopy):
		// a peer's fault, one line per copy it pushes otherwise.
		ss.srv.refusals.log(ss.log, "shadow copy refused", "database id not the one presented at XSHADOW", reply, ss.ip,
			"primary", ss.shadowServer, "database_id", db, "presented", ss.shadowPeerDB)
		return "550 5.7.1 " + reply.Message
	}
	if len(batches) > 0 {
		arg := batches[0].value
		n, err := strconv.Atoi(arg)
		switch {
		case ss.shadowVersion() < 6:
			return "503 5.5.1 XSHADOWBATCH not offered"
		case err != nil || !digitsOnly(arg) || n < 1 || n > MaxBatchCopies:
			return "501 5.5.4 XSHADOWBATCH= needs a number of copies from 1 to " + strconv.Itoa(MaxBatchCopies)
		}
		batch = n
	}
	var mark uint64
	if len(marks) > 0 {
		arg := marks[0].value
		n, err := strconv.ParseUint(arg, 10, 64)
		switch {
		case ss.shadowVersion() < 7:
			return "503 5.5.1 XSHADOWMARK not offered"
		case err != nil || !markDigits(arg) || n == 0:
			return "501 5.5.4 XSHADOWMARK= needs a positive number"
		}
		mark = n
	}
	ss.pendingCopyDB, ss.copyRefused, ss.pendingBatch, ss.pendingCopyMark = db, false, batch, mark
	return ""
}

// copyOfPrimary reports whether the session's transaction is a shadow
// copy: a copy on receipt (XSHADOWCOPY=) or a copy of a batch
// (XSHADOWBATCH=), whatever made it — the primary's receipt, a copy made
// again, a recopy after a refusal. It is mail its primary already
// accepted and validated; this server keeps it and delivers it only after
// a takeover, and then as a relay its next hop validates (or a mailbox
// delivery the validator judges again). So its envelope meets what the
// session may do — the rights (relay for a domain that is not accepted),
// accept-xshadow, back pressure, the size, the syntax of its addresses —
// but not what judges mail this server is to deliver: recipient
// validation (validateRcpt: the directory, the recipients file, LDAP, a
// callout) and the edge checks of MAIL and RCPT (milters, rate limits).
// Those depend on other servers (a callout's next hop, the directory, a
// milter) and on this server's view of them: a copy they refused for
// one of them being down, or for a directory here that lags the
// primary's, left the message held by its primary only for as long as
// that lasted, though a retry here could not cure it (avail40). The
// edge checks of the body were never asked for a copy (checkDataRest).
func (s *session) copyOfPrimary() bool { return s.pendingCopyDB != "" }

// replyCopyPartial refuses a copy on receipt some command of whose
// transaction was refused (a recipient, most likely): the copy is all or
// nothing (version 5), so that a primary that sent the body before it
// saw the recipients' replies (pushone.go) never leaves a copy for some
// of them here.
var replyCopyPartial = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1},
	Message: "Shadow copy refused whole: a command of its transaction was refused"}

// noteCopyRefusal marks the copy of the current transaction refused when
// the client gets an error reply (4xx or 5xx, from go-smtp or the layer)
// while it is open: what the client sent after the refused command is
// not enough for a whole copy.
func (v *verbConn) noteCopyRefusal(code int) {
	if code < 400 {
		return
	}
	if s := v.sess(); s != nil && s.pendingCopyDB != "" {
		s.copyRefused = true
	}
}

// keepCopy stores a message pushed on receipt as a shadow copy held for
// the session's server (the primary). A spooled body's file (sp) is
// handed to the queue with it.
func (s *session) keepCopy(m *queue.Message, body queue.Body, sp *spooledBody) error {
	cp, ok := s.srv.queue.(ShadowCopier)
	if !ok {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "XSHADOWCOPY not offered"}
	}
	if m.OrgID == "" {
		reply := &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "A shadow copy needs a valid organisation message id"}
		s.srv.refusals.log(s.log, "shadow copy refused", "no organisation message id", reply, s.ip, "primary", s.shadowServer)
		return reply
	}
	m.ShadowServer, m.ShadowID = "", ""
	var stored, fresh bool // fresh: the commit wrote a record of its own for it
	var err error
	var res []queue.CopyResult
	one := []queue.ShadowCopy{{M: m, Body: body}}
	if mc, ok := s.srv.queue.(MarkedCopier); ok && s.pendingCopyMark > 0 {
		res, err = mc.SubmitShadowCopiesMarked(s.srv.ctx, one, s.shadowServer, s.primaryAddr(s.shadowServer), s.pendingCopyDB, s.pendingCopyMark)
	} else if bc, ok := s.srv.queue.(ShadowBatchCopier); ok {
		res, err = bc.SubmitShadowCopies(s.srv.ctx, one, s.shadowServer, s.primaryAddr(s.shadowServer), s.pendingCopyDB)
	} else {
		stored, err = cp.SubmitShadowCopyBody(s.srv.ctx, m, body, s.shadowServer, s.primaryAddr(s.shadowServer), s.pendingCopyDB)
	}
	if err == nil && res != nil {
		stored, fresh, err = res[0].Stored, res[0].New, res[0].Err
	}
	if err == nil && body.Spooled() {
		sp.handed = true
	}
	if r := s.refusedDatabase(err); r != nil {
		return r
	}
	if err != nil {
		s.storeFailed("shadow copy not kept", err, "msg_id", m.ID.String(), "primary", s.shadowServer)
		if noStorage(err) {
			return replyNoStorage
		}
		return replyLocalError(m.ID)
	}
	s.srv.storage.stored()
	if fresh && s.withdrawAbandoned([]queue.ID{m.ID}) { // pushgiveup.go
		return replyCopyWithdrawn
	}
	if s.log.Enabled(s.srv.ctx, slog.LevelDebug) { // its arguments cost allocations on every copy otherwise
		s.log.Debug("shadow copy on receipt kept", "msg_id", m.ID.String(), "org_id", m.OrgID, "primary", s.shadowServer, "stored", stored)
	}
	msg := "Shadow copy kept as " + m.ID.String()
	if !stored {
		msg = "Shadow copy already discarded"
	}
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: msg}
}

// primaryAddr is where heartbeats to primary go: its address in the
// topology, "" when there is none (its heartbeats then fail, and its
// copies are taken over after timeout × retries: never lost).
func (s *session) primaryAddr(primary string) string {
	d := s.srv.servers.Load()
	if d == nil {
		return ""
	}
	if sa, ok := d.d.(serverAddresses); ok {
		if srv, ok := sa.Server(primary); ok {
			return srv.Address
		}
	}
	return ""
}

// ErrNoCopies is returned by PushCopy when the peer does not speak
// version 3 of the shadow verbs (it keeps no copies on receipt).
var ErrNoCopies = errors.New("peer does not keep shadow copies on receipt (XSHADOW 3)")

// ErrCopyTimedOut marks a push of a copy on receipt that the shadow
// server did not answer within its try's bound (a hung peer: a stopped
// process, a stalled disk): a failed try, as a refusal is — the copy is
// not tried on that server again, the next candidate takes it.
var ErrCopyTimedOut = errors.New("the shadow server did not answer the copy in time")

// errNoUTF8Copy refuses the copy of an SMTPUTF8 message that needs the
// extension (copyNeedsUTF8) to a peer that does not offer SMTPUTF8
// (umbra's receive connectors always do).
var errNoUTF8Copy = &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 6, 7}, Message: "peer does not support SMTPUTF8"}

// PushCopy sends m as a shadow copy on receipt in a shadow session (after
// Shadow): MAIL FROM with XSHADOWCOPY=dbID (this server's transport
// database id), every recipient, and the body with the organisation
// message id in front, which names the copy (sent as parts: the body is
// not copied). To a peer of version 5 with PIPELINING and CHUNKING the
// commands and the body go in one write, the replies in one read
// (pushOneTrip, pushone.go); else with PIPELINING the commands go in one
// write and a refused recipient abandons the copy (pushPipelined). It returns nil
// once the peer answered 250, i.e. the copy is durable there. Any error leaves the
// session unusable for another copy unless it is a *gosmtp.SMTPError
// given before DATA.
func (c *Client) PushCopy(m *queue.Message, body []byte, dbID string) error {
	return c.pushCopy(m, body, nil, int64(len(body)), dbID)
}

// DataSent reports whether the last push of a copy (PushCopy,
// PushCopyBody, PushBatch) began a write carrying the copy's data —
// DATA's body once its 354 was read, the octets of BDAT … LAST, which go
// in one write with the envelope: the server may have stored the copy
// when that push failed with no reply. false: the session was lost at
// MAIL, at RCPT, or at DATA before its 354, and no byte of the copy can
// have reached the server: it cannot hold it (rcpt43 item 2).
func (c *Client) DataSent() bool { return c.dataSent }

// pushCopy is PushCopy of a message of size bytes that starts with body
// and goes on with what tail yields, when there is one (PushCopyBody).
func (c *Client) pushCopy(m *queue.Message, body []byte, tail io.Reader, size int64, dbID string) error {
	c.dataSent = false
	if c.ShadowDB == "" || c.ShadowVersion < 3 {
		return ErrNoCopies
	}
	c.sc.copyParam = dbID
	if c.ShadowVersion >= 7 {
		c.sc.copyMark = m.HolderMark // the commit's own mark: it proves that commit (queue marks.go)
	}
	opts := &gosmtp.MailOptions{Size: size, EnvelopeID: m.EnvID, UTF8: m.UTF8}
	if m.EightBit { // the copy keeps what the message was received with (Client.Mail)
		opts.Body = gosmtp.Body8BitMIME
	}
	switch {
	case m.RetFull:
		opts.Return = gosmtp.DSNReturnFull
	case m.RetHdrs:
		opts.Return = gosmtp.DSNReturnHeaders // kept as given (RFC 3461 §4.3)
	}
	if utf8, _ := c.Extension("SMTPUTF8"); !utf8 && m.UTF8 {
		if copyNeedsUTF8(m, body, tail == nil) {
			// The copy would lose what the message was received with,
			// and the peer would deliver it so (RFC 6531 §3.2):
			// refused here, as delivery refuses such a hop (5.6.7).
			// Nothing was sent.
			c.sc.copyParam, c.sc.copyMark = "", 0
			return errNoUTF8Copy
		}
		// Nothing in it needs the extension (its envelope and header
		// all ASCII): sent without it, as delivery sends it.
		opts.UTF8 = false
	}
	parts := orgid.PartsRecord(m.Carried(), body) // the id (and origin) lines in front, the body not copied
	if tail == nil && c.canPushOneTrip() {
		if n, ok := oneTripLen(parts); ok {
			return c.pushOneTrip(m, opts, parts, n)
		}
	}
	if c.CanPipeline() {
		return c.pushPipelined(m, opts, parts, tail)
	}
	if err := c.Mail(m.From, opts); err != nil {
		c.sc.copyParam, c.sc.copyMark = "", 0
		return err
	}
	for k := range m.Rcpts {
		r := &m.Rcpts[k]
		if err := c.Rcpt(r.Addr, RcptOptionsOf(r)); err != nil {
			c.Reset()
			return err
		}
	}
	replies, err := c.sendData(parts, tail, 1)
	if err != nil {
		return err
	}
	if len(replies) == 0 {
		return errors.New("no reply to the shadow copy")
	}
	return replies[0].Err
}

// pushPipelined is PushCopy's transfer in one round trip (RFC 2920):
// the copy is all or nothing, so any refused command refuses it.
func (c *Client) pushPipelined(m *queue.Message, opts *gosmtp.MailOptions, parts [][]byte, tail io.Reader) error {
	rcpts := make([]Recipient, len(m.Rcpts))
	for k := range m.Rcpts {
		rcpts[k] = Recipient{Addr: m.Rcpts[k].Addr, Opts: RcptOptionsOf(&m.Rcpts[k])} // its DSN parameters too: a takeover answers the sender by them
	}
	p := c.pipelineStream(m.From, opts, rcpts, parts, tail, false, true)
	if p.Mail != nil {
		if p.Err == nil && isReply(p.Mail) {
			c.Rset()
		}
		return p.Mail
	}
	for _, err := range p.Rcpts { // a refusal is the reason, even when DATA was abandoned
		if err != nil {
			if p.Err == nil {
				c.Rset()
			}
			return err
		}
	}
	if p.Err != nil && len(p.Final) == 0 {
		return p.Err
	}
	if p.Data != nil {
		if p.Err == nil {
			c.Rset()
		}
		return p.Data
	}
	if len(p.Final) == 0 {
		return errors.New("no reply to the shadow copy")
	}
	return p.Final[0].Err
}

// ReceiptShadow finds shadow servers for copies on receipt
// (delivery.ReceiptShadow): the sending end of SR-17.
type ReceiptShadow interface {
	// Open returns a shadow session to a transport server chosen by
	// preference (config.ShadowOnReceipt*), reused or new, after trying
	// servers as the retry settings allow; an error when none took one.
	Open(ctx context.Context, pref string) (ReceiptLink, error)
}

// VerifiedReceiptShadow is a ReceiptShadow that opens, for a REQUIRETLS
// message's copy (RFC 8689), only a session whose certificate was
// verified for the shadow server's name; an error when no candidate has
// one, which the receive connector's shadow-failure rule then decides
// as any copy no server took.
type VerifiedReceiptShadow interface {
	OpenVerified(ctx context.Context, pref string) (ReceiptLink, error)
}

// SizedReceiptShadow is a ReceiptShadow that opens a link only to a
// shadow server whose own SIZE (its EHLO reply, RFC 1870) takes m's copy
// (body: its stored bytes): a candidate declaring less is passed over —
// no copy there, and not marked failing: it answers — as delivery does
// not send a message over a next hop's SIZE (hopSizeRefusal). A transport
// server's SIZE is its max_message_size, the limit a sender's message is
// held to (transportsize.go): the copy's size held to it leaves out
// umbra's trace fields and the organisation id lines. With no candidate
// left, the receive connector's shadow-failure rule decides, before the
// commit, as for any copy no server took. verify is OpenVerified's (a
// REQUIRETLS copy).
type SizedReceiptShadow interface {
	OpenFor(ctx context.Context, pref string, m *queue.Message, body queue.Body, verify bool) (ReceiptLink, error)
}

// ReceiptLink is one shadow session held for one copy.
type ReceiptLink interface {
	// Server is the shadow server's id.
	Server() string
	// Push transfers the copy (PushCopyBody: a spooled body streams
	// from its file); a session that broke is replaced by a new one to
	// the same server once.
	Push(ctx context.Context, m *queue.Message, body queue.Body) error
	// Done gives the session back for reuse (ok) or closes it.
	Done(ok bool)
}

// ReceiptObserver is told how each copy on receipt went (metrics):
// result is "copied", "single" (accepted held by this server only),
// "may_hold" (accepted, a push unanswered once its copy was sent: a copy
// may exist on that server, rcpt47 item 1), "left" (the message left
// this server before its copy gave up, the server having answered the
// push: ReceiptLeftChecker), "left_may_hold"
// (it left, and the push got no reply once its copy was sent: the
// server may hold a copy, owed its discard), "left_unknown" (whether it
// left could not be read: the reply claims neither) or "rejected" (451
// 4.4.0);
// added is the time the copy added to the reply.
// An Observer that also implements it gets the calls.
type ReceiptObserver interface {
	ShadowOnReceipt(connector, result string, added time.Duration)
}

// SetReceiptShadow sets (or, with nil, removes) the shadow servers'
// finder of copies on receipt.
func (s *Server) SetReceiptShadow(r ReceiptShadow) {
	if r == nil {
		s.receipt.Store(nil)
		return
	}
	s.receipt.Store(&receiptHolder{r})
}

type receiptHolder struct{ r ReceiptShadow }

// SessionNoter is a ReceiptShadow told how this server answered the
// shadow sessions a server opened here under its id (XSHADOW): refused,
// for any reason (its address, certificate or account does not match,
// it is no transport server, it lacks the right), or let in. A server
// whose sessions are refused here since the last one let in gets no
// copy on receipt from this server: its discard queries would be
// refused, so the copy could never be discarded (SR-17, one rule for
// both sides).
type SessionNoter interface {
	ShadowSessionRefused(serverID string)
	ShadowSessionLetIn(serverID string)
}

// noteShadowSession tells the receipt shadow how the XSHADOW of server
// id was answered (reply): a 5xx is a refusal of its sessions here; a
// 4xx (a local fault, a reload under way) says nothing of them.
//
// A refusal is noted only for a session whose claim to be id is its own:
// it authenticated as id (a server account or a client certificate
// naming it) or it came on an externally secured connector from an
// address the topology gives id (the connector's trust is the address).
// Anyone else may state any server's name at
// XSHADOW on a connector that offers the verb — noting that would let
// any client stop the copies made on that server. A refusal for the
// connection's address alone is told as such (AddressRefusalNoter).
func (s *session) noteShadowSession(id, reply string) {
	byAddress, presented, cause := s.addrRefused, s.xshadowDB, s.refusalCause
	s.addrRefused, s.xshadowDB, s.refusalCause = false, "", ""
	h := s.srv.receipt.Load()
	if h == nil || id == "" {
		return
	}
	n, ok := h.r.(SessionNoter)
	if !ok {
		return
	}
	switch {
	case strings.HasPrefix(reply, "250 "):
		n.ShadowSessionLetIn(id)
	case strings.HasPrefix(reply, "5") && (s.claimOwn(id) || byAddress && s.trustInForce() && s.presentsHolderID(id, presented)):
		// byAddress on the connector's trust alone: a client of the
		// trusted ranges stating id from an address the topology does
		// not give id (bindServerID). By the address it proves nothing
		// about id, which may be any client there — or id's own
		// sessions from an address its topology entry lacks, whose
		// copies here could never be discarded. It is id's only when
		// it presented the database id recorded here for id (DB=:
		// presentsHolderID; without it any client there marked id,
		// rr39), and then judged as an account's from another address
		// is (AddressRefusalNoter, never a refusal by itself): it marks
		// id only when no session of id was let in here lately (rt39
		// F2).
		// Under a topology only its transport servers are noted: a
		// name no server has (a client of an externally secured
		// connector stating any name) gets no copy anyway, and its
		// refusal, kept in the transport database, would never end.
		if d := s.srv.servers.Load(); d != nil && !d.d.Transport(id) {
			return
		}
		if an, ok := n.(AddressRefusalNoter); ok && byAddress {
			an.ShadowSessionRefusedByAddress(id)
			return
		}
		if !s.claimOwn(id) {
			return // the address alone, and no judge of it: nothing noted
		}
		if cn, ok := n.(RefusalCauseNoter); ok && cause != "" {
			cn.ShadowSessionRefusedBecause(id, cause)
			return
		}
		n.ShadowSessionRefused(id)
	}
}

// RefusalCauseNoter is a SessionNoter told the cause of a refusal when
// the session knows one the receipt shadow's view would not name (the
// session presented another server's database id: verbs40 F2), for
// shadow list; it is a refusal of the server's sessions as
// ShadowSessionRefused's. Such a refusal still marks the server: its
// session is its own (its account, certificate or address), and a server
// run on a copy of another's data directory presents that id in every
// session, so its discard queries are refused and a copy there could
// never be discarded; its next session let in ends it.
type RefusalCauseNoter interface {
	ShadowSessionRefusedBecause(serverID, cause string)
}

// AddressRefusalNoter is a SessionNoter told apart of a refusal whose
// only cause is the connection's address: the session authenticated as
// server id by its account or its certificate (valid), from an address
// the topology does not give that server (addressedServerID). Such a
// session may be another host's holding a copy of the credential (a
// stolen certificate, a copied configuration) or the server's own
// second interface, while the server's sessions from its own address
// are let in: the receipt shadow judges whether it stands for the
// server (package delivery, refusedretry.go). A refusal by an
// externally secured connector's binding (bindServerID: the connection
// is not from an address the topology gives the server) is told so too
// (rt39 F2): any client of the trusted ranges may state the name, and
// only the server's own sessions let in lately tell it from the server.
type AddressRefusalNoter interface {
	ShadowSessionRefusedByAddress(serverID string)
}

// SessionAskedNoter is a receipt shadow told that a shadow session of
// server id let in here completed a query (XQUERYDISCARD, XQUERYHELD:
// peerAnswered): its sessions are let in now — a watch session open for
// long states its XSHADOW once, at its start (AddressRefusalNoter's
// judgement counts from the latest).
type SessionAskedNoter interface {
	ShadowSessionAsked(serverID string)
}

// HolderIDTeller tells the transport database id recorded here for a
// shadow server ("" when none was met yet: queue.Manager).
type HolderIDTeller interface {
	ShadowHolderID(server string) (string, error)
}

// presentsHolderID reports whether db, the database id an XSHADOW
// presented (DB=), is the one recorded here for server id: a session
// refused for its address on an externally secured connector's trust
// alone speaks for id only so (noteShadowSession). id states it in
// every session it opens here (MARK DB=, version 10) and this server
// records it when it meets id as a holder; a client of the trusted
// ranges does not learn it. No id presented, none recorded, or a queue
// that cannot tell: the session proves nothing about id (rr39).
func (s *session) presentsHolderID(id, db string) bool {
	ht, ok := s.srv.queue.(HolderIDTeller)
	if !ok || db == "" {
		return false
	}
	rec, err := ht.ShadowHolderID(id)
	if err != nil {
		s.log.Error("reading a shadow server's database id failed", "shadow_server", id, "err", err)
		return false
	}
	return rec != "" && rec == db
}

// claimOwn reports whether the session's own identity says it is server
// id: its server account or a name of its client certificate is id (case
// and a final dot aside), or its connector is externally secured and the
// connection comes from an address the topology gives id (rt39 F2). An
// account without the :server flag (or one the topology gives no
// transport server: serverAccount) is a user's, whatever its name: its
// refusal is noted for no server (frontrt35 F1: alice stating her own
// name became a refused "primary" of shadow list, kept across restarts;
// a plain account named hub3 would have stopped hub3's copies).
func (s *session) claimOwn(id string) bool {
	same := func(a string) bool { return a != "" && mailaddr.NameKey(a) == mailaddr.NameKey(id) } // names match as the topology folds them
	if s.user != "" {
		return s.serverAccount && same(s.user)
	}
	if s.vc != nil && len(s.vc.certNames) > 0 {
		return slices.ContainsFunc(s.certNamesNow(), same) // a certificate the client CA in force no longer vouches for speaks for no server
	}
	// Neither: the connector's trust alone, while the configuration in
	// force still trusts it (serverNow's rule: a reload that took
	// externally_secured away took that vouching too). Its trust is the
	// address: it vouches for some server, not which one, and the
	// topology says which — the session speaks for id only from an
	// address the topology gives id (its address or one of its
	// source_addresses: ServerAt, bindServerID's rule). A client of the
	// trusted ranges stating another server's name from an address not
	// that server's proves nothing about it: noted, its refusal stopped
	// the copies made on that server until its next session was let in
	// (with reject_on_shadow_failure, every sender refused 451 4.4.0),
	// and shadow list blamed the server (rt39 F2). A refusal of a
	// session from the server's own address (a right it lacks, another
	// server's database id, verbs not offered) is the server's, and
	// marks it. Without a topology there is no address to hold it to,
	// and the connector's trust is all there is (no copy on receipt is
	// made without one).
	if !s.trustInForce() {
		return false
	}
	if d := s.srv.servers.Load(); d != nil {
		if _, at := d.d.ServerAt(id, s.ip); !at {
			return false
		}
	}
	return true
}

// CopyTooLargeError is a SizedReceiptShadow's error when every
// candidate passed the copy over for its SIZE only (rt17e-F2): retrying
// cannot help, so with reject_on_shadow_failure the message is refused
// with 552 5.3.4 naming Limit, not 451 4.4.0.
type CopyTooLargeError struct {
	Limit int64 // the largest SIZE of the candidates
	Size  int64 // the copy's size as held to it
	Err   error // what each candidate answered
}

func (e *CopyTooLargeError) Error() string { return e.Err.Error() }
func (e *CopyTooLargeError) Unwrap() error { return e.Err }

var replyShadowFailed = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 0},
	Message: "No shadow server available for a redundant copy, try again later"}

// copiesOnReceipt: the connector makes a shadow copy on another server
// before the 250 (SR-17) for a message that has no other copy: not one
// relayed in a shadow session (its sender keeps one) and not a client
// submission (SR-12, as for delayed acknowledgement). When it applies,
// delayed acknowledgement does not: the copy is the redundancy, and one
// message is never delayed twice.
func (s *session) copiesOnReceipt() bool {
	pref := s.txConn().cfg.ShadowOnReceipt
	return s.srv.shadow != nil && pref != "" && pref != config.ShadowOnReceiptOff &&
		s.pendingShadowID == "" && !(s.user != "" && !s.server)
}

// submitWithCopy is the end of DATA with shadow on receipt: a shadow
// session is opened (or reused) first, so that the one local commit
// names the shadow server and the copy's id (its org id); then the
// commit, then the transfer, then the 250. No session to any
// candidate: 451 4.4.0 with reject_on_shadow_failure (nothing was
// committed), else the message is accepted held here only. A transfer
// that fails after the commit never turns into a 451 (the sender's retry
// would be a second message): the message is held here only.
func (s *session) submitWithCopy(m *queue.Message, body []byte) error {
	return s.submitWithCopyBody(m, queue.MemBody(body), nil)
}

// submitWithCopyBody is submitWithCopy for a body that may be spooled
// (sp, the session's spool file, then handed to the queue by the commit).
func (s *session) submitWithCopyBody(m *queue.Message, body queue.Body, sp *spooledBody) error {
	pref, reject := s.txConn().cfg.ShadowOnReceipt, s.txConn().cfg.RejectOnShadowFailure // the transaction's (reloadtxn.go)
	clk := s.srv.clk
	start := clk.Now()
	obs, _ := s.srv.obs.(ReceiptObserver)
	observe := func(result string) {
		if obs != nil {
			obs.ShadowOnReceipt(s.c.cfg.Name, result, clk.Now().Sub(start))
		}
	}
	if m.OrgID == "" {
		m.OrgID = orgid.New() // names the copy; PutNew would give one too
	}
	var link ReceiptLink
	var err error
	if h := s.srv.receipt.Load(); h != nil {
		if sz, ok := h.r.(SizedReceiptShadow); ok {
			link, err = sz.OpenFor(s.srv.ctx, pref, m, body, m.RequireTLS) // none over a server's SIZE
		} else if v, ok := h.r.(VerifiedReceiptShadow); ok && m.RequireTLS {
			link, err = v.OpenVerified(s.srv.ctx, pref) // its copy over verified TLS only
		} else {
			link, err = h.r.Open(s.srv.ctx, pref)
		}
	} else {
		err = errors.New("no shadow servers configured (a topology is needed)")
	}
	if err != nil {
		if reject {
			observe("rejected")
			s.log.Warn("message refused: no shadow copy possible", "msg_id", m.ID.String(), "preference", pref, "err", err)
			var tl *CopyTooLargeError
			if errors.As(err, &tl) && tl.Limit > 0 {
				// Every shadow server's SIZE is below it: a retry
				// meets the same limits (rt17e-F2).
				return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
					Message: fmt.Sprintf("Message too large for a redundant copy: the shadow servers take at most %d bytes", tl.Limit)}
			}
			return replyShadowFailed
		}
		link = nil
	}
	if link != nil {
		m.ShadowServer, m.ShadowID = link.Server(), m.OrgID
		_, m.PushOnReceipt = s.srv.queue.(ReceiptCopyConfirmer)
	} else {
		// No shadow server took a session: the commit marks the
		// message held by this server only (queue holders.go), so the
		// views name it and its copy is made when one answers again.
		m.NoCopy = true
	}
	// Delivery may start on m as soon as it is committed: the copy is
	// made from a snapshot.
	snap := *m
	snap.Rcpts = append([]queue.Recipient(nil), m.Rcpts...)
	push := body
	if link != nil && body.Spooled() {
		// The spool file is the queue's from the commit on, and goes
		// when the message is delivered: the push reads a link to it
		// (an orphan, swept when the store opens, after a crash).
		path, off, n := body.File()
		if err := os.Link(path, path+".push"); err == nil {
			push = queue.SpooledBody(body.Head(), path+".push", off, n)
			defer os.Remove(path + ".push")
		}
	}
	var serr error
	if sp != nil {
		serr = s.submitBody(m, body, sp)
	} else {
		serr = s.srv.queue.Submit(s.srv.ctx, m, body.Head())
	}
	if serr != nil {
		if link != nil {
			link.Done(true)
		}
		s.storeFailed("enqueue failed", serr, "msg_id", m.ID.String())
		if noStorage(serr) {
			return replyNoStorage
		}
		return replyLocalError(m.ID)
	}
	s.srv.storage.stored()
	s.srv.obs.Received(s.c.cfg.Name, int(body.Len()))
	s.logAccepted(m, int(body.Len()))
	msg := "Ok: queued as " + m.ID.String()
	snap.HolderMark = m.HolderMark // raised by the commit (queue marks.go): the copy presents it
	if link != nil {
		if h := s.srv.receipt.Load(); h != nil {
			if rh, ok := h.r.(ReceiptRecopyHolder); ok {
				defer rh.HoldRecopy(m.ID)() // until the reply is made (rt20h-F1)
			}
		}
		err = link.Push(s.srv.ctx, &snap, push)
		link.Done(err == nil)
		if cc, ok := s.srv.queue.(ReceiptCopyConfirmer); ok && err == nil {
			cc.ReceiptCopyConfirmed(m.ID)
		}
	}
	again := ""
	// mayHoldOn: the servers whose push got no reply once its copy may
	// have reached them (cut after its data, hung past its bound) — the
	// link's, and those of the copy made again within the receipt: the
	// outcome is unknown, and each may hold the copy (rcpt44 item 2).
	var mayHoldOn []string
	if err != nil && link != nil {
		// The commit named the server: marked, so that the views do
		// not imply the copy and it is made again when a shadow server
		// answers (queue holders.go).
		refused := refusedReply(err)
		// What the mark keeps: the server's answer when it kept
		// nothing — a refusal, or a 421 at any step (receipt42 item
		// 2) —, "" when it may hold the copy (no reply once the copy
		// was sent): only then is it owed the copy's discard.
		keptNothing := refused
		if keptNothing == "" && !linkMayHold(link, err) {
			keptNothing = noCopyReason(err)
		}
		if keptNothing == "" {
			mayHoldOn = append(mayHoldOn, link.Server())
		}
		// A refusal (452 4.3.1 from a full disk) is a failed try: the
		// next candidate takes the copy within this receipt (rt30 F2).
		var rc ReceiptRecopier
		if h := s.srv.receipt.Load(); h != nil {
			rc, _ = h.r.(ReceiptRecopier)
		}
		// The mark is committed before the next candidate is tried
		// (the commit named the server: a crash meanwhile leaves the
		// message marked, and its copy made again); its tracking event
		// waits for the receipt's end, written only when no candidate
		// took the copy (untracked): a copy made on the next one within
		// this receipt left the log saying "held by this server only"
		// of a message that never was, with nothing after it
		// (rcptmark45 item 2).
		marked := false
		var untracked UntrackedSingleCopyMarker
		if um, ok := s.srv.queue.(UntrackedSingleCopyMarker); ok && rc != nil && s.srv.ctx.Err() == nil {
			if merr := um.MarkSingleCopyUntracked(m.ID, link.Server(), keptNothing); merr != nil {
				s.log.Error("marking the message held by this server only failed", "msg_id", m.ID.String(), "err", merr)
			} else {
				marked, untracked = true, um
			}
		} else if mk, ok := s.srv.queue.(SingleCopyMarker); ok {
			if merr := mk.MarkSingleCopy(m.ID, link.Server(), keptNothing); merr != nil {
				s.log.Error("marking the message held by this server only failed", "msg_id", m.ID.String(), "err", merr)
			} else {
				marked = true
			}
		}
		if untracked != nil {
			// Every way out of the receipt's tries: the event of a
			// mark that still stands (none when the copy was made
			// again and the mark settled).
			defer untracked.TrackSingleCopy(m.ID)
		}
		// So is a push the server did not answer in time (hung, rt43
		// observation 1): it is not tried again on that server. And so
		// is a push whose session ended mid-way — a 421 (the server
		// stopping), an EOF or a reset (killed) at any step, before or
		// after the data's end, alone or in a batch — once the link's
		// second session to that server failed too (receiptLink.Push):
		// that server is going away, and a copy left for it alone was
		// a message held by this server only while the other shadow
		// servers answered (midpush41). The server may have stored the
		// copy all the same (a session broken after its commit): the
		// mark keeps it as one that may hold it (MarkSingleCopy with no
		// reply), and the commit naming the next candidate owes it the
		// copy's discard (queue ShadowRecopied), as for a hung one.
		hung := errors.Is(err, ErrCopyTimedOut)
		if rc != nil && marked && s.srv.ctx.Err() == nil {
			switch {
			case hung:
				s.log.Info("shadow copy not answered in time: trying the next shadow server", "msg_id", m.ID.String(), "shadow_server", link.Server(), "err", err)
			case refused != "":
				s.log.Info("shadow copy refused: trying the next shadow server", "msg_id", m.ID.String(), "shadow_server", link.Server(), "reply", refused)
			default:
				s.log.Info("shadow copy push failed mid-session: trying the next shadow server", "msg_id", m.ID.String(), "shadow_server", link.Server(), "err", err)
			}
			// The servers Open tried before link's (no session for
			// the copy) count against the budgets too: the copy is
			// tried on no more servers in all than they allow, and on
			// none of those again (rrmidpush41).
			tried := []string{link.Server()}
			if lt, ok := link.(ReceiptLinkTried); ok {
				tried = append(lt.TriedBefore(), tried...)
			}
			srv, rerr := rc.RecopyRefused(s.srv.ctx, m.ID, pref, tried)
			if mh := (*CopyMayBeHeldError)(nil); errors.As(rerr, &mh) {
				mayHoldOn = append(mayHoldOn, mh.Servers...)
			}
			if srv != "" {
				again, err = srv, nil
			} else if rerr != nil {
				err = fmt.Errorf("%w; then %v", err, rerr)
			}
		}
	}
	left := false
	// leftErr: the read of whether the message left failed. It is no
	// answer: neither "left" (nothing is handed, no copy is said to be
	// unneeded) nor "not left" (no copy is named as this message's
	// shadow copy, nor the message as held here only) — the marks stand,
	// and the commit that ends the message owes each server that may
	// hold a copy its discard, as it does for any (receipt48 item 1).
	var leftErr error
	if lc, ok := s.srv.queue.(ReceiptLeftChecker); ok && (err != nil || again != "") {
		// And a copy made again on the next candidate: the message's
		// attempt went on while the first push failed and the next one
		// ran, and one that left meanwhile left that server holding a
		// copy of a message gone, owed its discard — never "shadow copy
		// on" it (rcpt47 item 5).
		left, leftErr = lc.LeftBeforeCopy(m.ID)
		if leftErr != nil {
			left = false
		}
		if left && again != "" {
			mayHoldOn = append(mayHoldOn, again)
		}
	}
	mayHold := len(mayHoldOn) > 0
	switch {
	case leftErr != nil:
		observe("left_unknown")
		var copyWords string
		switch {
		case again != "":
			copyWords = "shadow copy made on " + again
		case mayHold:
			copyWords = "shadow copy unconfirmed: one may exist on " + strings.Join(mayHoldOn, ", ")
		default:
			copyWords = "no shadow copy"
		}
		s.log.Warn("could not read whether the message left this server before its shadow copy on receipt gave up: the reply neither claims nor denies it; the marks stand, and each shadow server that may hold a copy is owed its discard when the message ends",
			"msg_id", m.ID.String(), "preference", pref, "copy", copyWords, "push_err", err, "err", leftErr)
		msg += ", " + copyWords + "; whether the message left this server meanwhile is unknown"
	case left && mayHold:
		// Handed on (or finished) while the copy was tried, but the
		// push's outcome is unknown: the server may hold a copy. The
		// commit that ended the message owes it the copy's discard
		// (the record, or the mark, names it as one that may hold
		// it), handed before the 250 as a made-again copy's is — its
		// watch session's fetch waited for, else a push —: left for
		// its next contact, this server killed right after the 250
		// left that server free to take its copy over and deliver the
		// message a second time (rdwatch45). One not reached in time
		// fetches it at its next contact.
		if h := s.srv.receipt.Load(); h != nil {
			if lh, ok := h.r.(LeftDiscardHander); ok && s.srv.ctx.Err() == nil {
				lh.HandLeftDiscards(s.srv.ctx, m.ID, m.OrgID, mayHoldOn)
			}
		}
		// After the hand-over: its wait is the copy's, added to the
		// reply as the made-again copy's is (rdleft45).
		observe("left_may_hold")
		s.log.Info("message left this server before its shadow copy on receipt was confirmed: the shadow server may hold a copy, and is owed its discard (handed before the reply where it could be, else it fetches it at its next contact)",
			"msg_id", m.ID.String(), "shadow_server", strings.Join(mayHoldOn, ","), "err", err)
		msg += ", left this server before its shadow copy was confirmed"
	case left:
		// Handed on (or finished) while the copy was tried, and the
		// server answered the push (it kept nothing): never held by
		// this server only, and no copy is owed.
		observe("left")
		s.log.Info("message left this server before its shadow copy on receipt was made: no copy needed", "msg_id", m.ID.String(), "err", err)
		msg += ", left this server before its shadow copy was made"
	case err != nil && mayHold:
		// A push got no reply once its copy was sent: its outcome is
		// unknown, and a copy may exist there. Neither held by this
		// server only nor copied: "may_hold", said so to the sender and
		// the operator (rcpt47 item 1). The mark keeps each such server
		// as one that may hold the copy — the copy is made again, and
		// the commit naming its holder owes each the discard.
		observe("may_hold")
		s.log.Warn("shadow copy on receipt unconfirmed: a copy may exist on the shadow server (no reply once the copy was sent); it is made again on a shadow server that answers, and the shadow server is owed its discard then",
			"msg_id", m.ID.String(), "preference", pref, "shadow_server", strings.Join(mayHoldOn, ","), "err", err)
		msg += ", shadow copy unconfirmed: one may exist on " + strings.Join(mayHoldOn, ", ")
	case err != nil:
		observe("single")
		s.log.Warn("message held by this server only: no shadow copy", "msg_id", m.ID.String(), "preference", pref, "err", err)
		msg += ", no shadow copy"
	case again != "":
		observe("copied")
		// At INFO, as the failed try's line before it ("… trying the
		// next shadow server"): the operator who saw the copy fail
		// sees where it went (shadow45 item 4).
		s.log.Info("shadow copy on receipt made on the next shadow server", "msg_id", m.ID.String(), "shadow_server", again)
		msg += ", shadow copy on " + again
	default:
		observe("copied")
		if s.log.Enabled(s.srv.ctx, slog.LevelDebug) {
			s.log.Debug("shadow copy on receipt made", "msg_id", m.ID.String(), "shadow_server", link.Server())
		}
		msg += ", shadow copy on " + link.Server()
	}
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: msg}
}

// noCopyReason is what a mark keeps of a failed push that left no copy
// on the server (receiptLink.MayHold false): its reply, or the error
// when the session ended before the copy was sent.
func noCopyReason(err error) string {
	if isReply(err) {
		return Reply(err)
	}
	return err.Error()
}

// refusedReply is the shadow server's reply when err is its refusal of
// a copy (any reply but 421, which ends a session), else "".
func refusedReply(err error) string {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code == 421 {
		return ""
	}
	return Reply(err)
}

// refusedDatabase answers a queue refusal of a database id it keeps as
// another primary's (queue.DatabaseOfAnotherError, rt17f-F1) with the
// reply and WARN of databaseOfAnother; nil for any other err. It is the
// one answer of it: a copy's (MAIL … XSHADOWCOPY=, a batch) and
// XSHADOW's (holderSeen).
func (s *session) refusedDatabase(err error) *gosmtp.SMTPError {
	var o *queue.DatabaseOfAnotherError
	if !errors.As(err, &o) {
		return nil
	}
	s.logAnotherDatabase("shadow copy or session refused: the presented transport database id is another server's", o.Server, o.DatabaseID, o.Other)
	return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "Database id " + o.DatabaseID + " is another server's here; nothing changed"}
}
