package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// A batch of copies on receipt (version 6 of the shadow verbs). While one
// push to a shadow server is in flight, the copies of other receive
// sessions for that server wait (delivery.ReceiptShadow); the next push
// carries them all in one transaction:
//
//	MAIL FROM:<> XSHADOWCOPY=<database-id> XSHADOWBATCH=<n>
//	RCPT TO:<the first recipient of the first copy>
//	BDAT <size> LAST
//	<n copy records>
//
// sent in one write, answered in one segment. The SMTP framing is the
// one of any BDAT (the verb layer reads the payload, as for every body);
// only the payload has an inner framing, n records of
//
//	COPY <body-length> <recipients> <flags>[ <envid>]\r\n
//	FROM <reverse-path>\r\n
//	RCPT <forward-path>\r\n            (once per recipient)
//	<body-length octets: the copy as version 5 sends it by BDAT>
//
// flags are "-" or any of U (SMTPUTF8), F (RET=FULL), E (an ENVID, xtext,
// follows), M (from version 24: a line "MARK <n>" follows the COPY line,
// the rollback mark the primary's commit of this copy raised its counter
// to, see below). The outer envelope is only the wire's (SMTP wants a
// recipient before BDAT): each copy's envelope is
// checked as its MAIL and RCPT commands would be (a refusal refuses that
// copy), its body as a copy's body is, and the copies are kept in one
// commit of this server (queue.SubmitShadowCopies).
//
// The reply to the BDAT: a framing error (a record that does not parse,
// more or fewer than n records) refuses the batch, 554 5.6.0, and
// nothing of it is kept; otherwise a multi-line 250, one line per copy in
// order, "COPY <i> <code> <enhanced code> <text>" (250 2.0.0 for a copy
// kept, the reply its MAIL, RCPT or body got for one refused), and a last
// line counting them. So one bad copy does not fail the others; a copy
// answered anything but 250 is not kept, and its primary treats it as a
// failed try of that server (it tries the next one per its preference).
// A storage error at the commit answers every copy of the batch with it.
//
// Each copy's own mark (version 24, BatchMarkVersion). The MAIL's
// XSHADOWMARK= is the highest mark the commits of the batch's copies
// raised: the floor the primary may present from now on (queue
// marks.go). It is no copy's own mark but the latest's, and a discard
// that reached this server before its copy is placed by the copy's own
// mark (queue earlystale.go: a copy whose mark is above the one
// presented with the discard is a new copy, which the discard must not
// settle). Taken for every copy of the batch, it placed a copy committed
// before its discard, batched with one committed after it, after the
// discard: the copy was kept although the primary owed this server
// nothing for it, and delivered a second time when the primary was lost
// (rt39 F1). So to a peer of version 24 each record states its copy's
// own mark (flag M); the holder places each copy by it and raises the
// stored mark by the batch's. A peer below 24 gets the records of
// before: each copy placed by the batch's mark (README, duplicate
// window).

const (
	// MaxBatchCopies bounds the copies of one batch, at both ends.
	MaxBatchCopies = 64
	// MaxBatchBytes bounds a batch's payload at the primary: the
	// copies of one batch sit in memory together, at both ends.
	MaxBatchBytes = 512 << 10
	// maxCopyLine bounds a line of a record's envelope (RFC 5321's
	// path limit with the keyword, generously).
	maxCopyLine = 1024
)

// batchCopy is one record of a batch as the peer parsed it.
type batchCopy struct {
	from    string
	rcpts   []string
	utf8    bool
	retFull bool
	envID   string
	mark    uint64 // its own rollback mark (flag M, version 24), 0 for none
	body    []byte // a subslice of the payload
}

// BatchMarkVersion is the shadow verbs version from which a batch's
// records state each copy's own rollback mark (flag M).
const BatchMarkVersion = 24

// maxMarkDigits bounds a record's MARK (a uint64 in decimal).
const maxMarkDigits = 20

// parseCopyBatch parses the payload of a batch of n copies (see above),
// each with at most maxRcpts recipients (0: no bound but the payload);
// marks: the session speaks version 24, so a record may state its
// copy's mark (flag M). It is the only reader of the inner framing.
func parseCopyBatch(p []byte, n, maxRcpts int, marks bool) ([]batchCopy, error) {
	if n < 1 || n > MaxBatchCopies {
		return nil, fmt.Errorf("batch of %d copies (1 to %d)", n, MaxBatchCopies)
	}
	out := make([]batchCopy, 0, n)
	line := func() (string, error) {
		i := bytes.Index(p[:min(len(p), maxCopyLine)], []byte("\r\n"))
		if i < 0 {
			return "", errors.New("record line without CRLF within 1024 octets")
		}
		l := string(p[:i])
		p = p[i+2:]
		if strings.ContainsAny(l, "\r\n\x00") {
			return "", errors.New("bare CR, LF or NUL in a record line")
		}
		return l, nil
	}
	for len(out) < n {
		l, err := line()
		if err != nil {
			return nil, fmt.Errorf("copy %d: %w", len(out)+1, err)
		}
		f := strings.Split(l, " ")
		if len(f) < 4 || len(f) > 5 || f[0] != "COPY" {
			return nil, fmt.Errorf("copy %d: malformed COPY line", len(out)+1)
		}
		size, err1 := strconv.Atoi(f[1])
		nr, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || size < 2 || nr < 1 || maxRcpts > 0 && nr > maxRcpts ||
			!digitsOnly(f[1]) || !digitsOnly(f[2]) {
			return nil, fmt.Errorf("copy %d: bad length or recipient count", len(out)+1)
		}
		var c batchCopy
		flags, hasEnv, hasMark := f[3], false, false
		if flags != "-" {
			for _, r := range flags {
				switch {
				case r == 'U' && !c.utf8:
					c.utf8 = true
				case r == 'F' && !c.retFull:
					c.retFull = true
				case r == 'E' && !hasEnv:
					hasEnv = true
				case r == 'M' && marks && !hasMark:
					hasMark = true
				default:
					return nil, fmt.Errorf("copy %d: bad flags", len(out)+1)
				}
			}
		}
		if hasEnv != (len(f) == 5) || hasEnv && f[4] == "" {
			return nil, fmt.Errorf("copy %d: ENVID flag and value disagree", len(out)+1)
		}
		if hasEnv {
			c.envID = f[4]
		}
		if hasMark {
			if l, err = line(); err != nil {
				return nil, fmt.Errorf("copy %d: %w", len(out)+1, err)
			}
			v, ok := strings.CutPrefix(l, "MARK ")
			mark, perr := strconv.ParseUint(v, 10, 64)
			if !ok || perr != nil || mark == 0 || !markDigits(v) {
				return nil, fmt.Errorf("copy %d: MARK line with a positive number expected", len(out)+1)
			}
			c.mark = mark
		}
		if l, err = line(); err != nil {
			return nil, fmt.Errorf("copy %d: %w", len(out)+1, err)
		}
		from, ok := strings.CutPrefix(l, "FROM ")
		if !ok {
			return nil, fmt.Errorf("copy %d: FROM line expected", len(out)+1)
		}
		c.from = from
		// Each RCPT line takes at least 7 octets: a count beyond
		// what is left is refused before anything is allocated for it.
		if nr > len(p)/7 {
			return nil, fmt.Errorf("copy %d: more recipients than the batch holds", len(out)+1)
		}
		c.rcpts = make([]string, 0, nr)
		for range nr {
			if l, err = line(); err != nil {
				return nil, fmt.Errorf("copy %d: %w", len(out)+1, err)
			}
			to, ok := strings.CutPrefix(l, "RCPT ")
			if !ok || to == "" {
				return nil, fmt.Errorf("copy %d: RCPT line expected", len(out)+1)
			}
			c.rcpts = append(c.rcpts, to)
		}
		if size > len(p) {
			return nil, fmt.Errorf("copy %d: body longer than the batch", len(out)+1)
		}
		c.body = p[:size:size]
		p = p[size:]
		if !bytes.HasSuffix(c.body, []byte("\r\n")) {
			return nil, fmt.Errorf("copy %d: body does not end with CRLF", len(out)+1)
		}
		out = append(out, c)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d octets after the last copy", len(p))
	}
	return out, nil
}

// allDigits: s is decimal digits only (no sign, as ParseUint allows none
// but would take "+1" in a later Go).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// digitsOnly: s is a shadow verb's count (a max, a size, a number of
// copies or seconds): decimal digits only, 1 to 10 of them. Never a
// rollback mark's test: a mark is a uint64 (markDigits).
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != "" && len(s) <= 10
}

// markDigits: s is a rollback mark as umbra writes one (a uint64 in
// decimal, strconv.FormatUint): decimal digits only, 1 to maxMarkDigits
// of them. A holder's counter is raised by one in each commit naming it
// and passes ten digits in time; read with digitsOnly it was refused,
// and with it the primary's sessions (rrverbs40 F1).
func markDigits(s string) bool { return allDigits(s) && len(s) <= maxMarkDigits }

// appendCopyRecord appends the record of one copy (see above): m's
// envelope and the copy's parts, size octets in all (oneTripLen), and
// the copy's own rollback mark when mark is above 0 (flag M: only to a
// peer of version 24). Addresses and the envelope id come from the queue
// record, which the receive session parsed (no CR or LF, no space in an
// xtext ENVID).
func appendCopyRecord(b []byte, m *queue.Message, utf8 bool, parts [][]byte, size int, mark uint64) []byte {
	b = append(b, "COPY "...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(m.Rcpts)), 10)
	b = append(b, ' ')
	flags := len(b)
	if utf8 {
		b = append(b, 'U')
	}
	if m.RetFull {
		b = append(b, 'F')
	}
	if m.EnvID != "" {
		b = append(b, 'E')
	}
	if mark > 0 {
		b = append(b, 'M')
	}
	if len(b) == flags {
		b = append(b, '-')
	}
	if m.EnvID != "" {
		b = append(append(b, ' '), m.EnvID...)
	}
	if mark > 0 {
		b = strconv.AppendUint(append(b, "\r\nMARK "...), mark, 10)
	}
	b = append(append(append(b, "\r\nFROM "...), m.From...), "\r\n"...)
	for _, r := range m.Rcpts {
		b = append(append(append(b, "RCPT "...), r.Addr...), "\r\n"...)
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// batchable: m's copy can go in a batch record, its envelope fitting the
// record lines (a path with CR, LF or NUL, or an ENVID with a space,
// which the receive session never gives, goes alone).
func batchable(m *queue.Message) bool {
	bad := func(s string) bool { return len(s) > maxCopyLine-8 || strings.ContainsAny(s, "\r\n\x00") }
	if bad(m.From) || bad(m.EnvID) || strings.Contains(m.EnvID, " ") || len(m.Rcpts) == 0 {
		return false
	}
	for _, r := range m.Rcpts {
		if bad(r.Addr) || r.Addr == "" {
			return false
		}
	}
	return true
}

// batchReply builds the reply to a batch from each copy's reply (nil:
// kept). codes: the session said CODES (version 18): each copy's line
// starts with an enhanced status code as well (go-smtp writes the
// reply's own on its last line only).
func batchReply(replies []*gosmtp.SMTPError, codes bool) *gosmtp.SMTPError {
	var b strings.Builder
	kept := 0
	for i, r := range replies {
		if r == nil {
			r = &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Shadow copy kept"}
		}
		if r.Code == 250 {
			kept++
		}
		ec := r.EnhancedCode
		if ec == gosmtp.EnhancedCodeNotSet || ec == gosmtp.NoEnhancedCode {
			ec = gosmtp.EnhancedCode{r.Code / 100, 0, 0}
		}
		msg := strings.ReplaceAll(strings.ReplaceAll(r.Message, "\r", " "), "\n", " ")
		if codes {
			b.WriteString("2.0.0 ")
		}
		fmt.Fprintf(&b, "COPY %d %d %d.%d.%d %s\n", i+1, r.Code, ec[0], ec[1], ec[2], msg)
	}
	fmt.Fprintf(&b, "Batch of %d shadow copies: %d kept", len(replies), kept)
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: b.String()}
}

// parseBatchReply reads the per-copy lines of a batch's 250 (the texts of
// its lines, readReplyCode): nil for a copy kept, its reply for one
// refused. Any line missing or out of order is an error for the batch.
func parseBatchReply(texts []string, n int) ([]error, error) {
	if len(texts) != n+1 {
		return nil, fmt.Errorf("batch reply of %d lines for %d copies", len(texts), n)
	}
	out := make([]error, n)
	for i := range n {
		f := strings.SplitN(texts[i], " ", 5)
		if len(f) < 4 || f[0] != "COPY" || f[1] != strconv.Itoa(i+1) {
			return nil, fmt.Errorf("malformed batch reply line %q", texts[i])
		}
		code, err := strconv.Atoi(f[2])
		if err != nil || code < 200 || code > 599 {
			return nil, fmt.Errorf("malformed batch reply line %q", texts[i])
		}
		if code == 250 {
			continue
		}
		msg := f[3]
		if len(f) == 5 {
			msg += " " + f[4]
		}
		out[i] = parseSMTPError(code, msg)
	}
	return out, nil
}

// ShadowBatchCopier keeps the copies of a batch in one commit
// (queue.Manager). A server whose queue is one offers version 6.
type ShadowBatchCopier interface {
	SubmitShadowCopies(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string) ([]queue.CopyResult, error)
}

var replyBatchSpooled = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
	Message: "Shadow copy batch too large"}

// keepBatch keeps the copies of a batch (payload: the BDAT's octets, see
// above) for the session's server: each copy's envelope goes through
// the checks of MAIL and RCPT, its body through those of a copy's body,
// and the copies that passed are kept in one commit.
func (s *session) keepBatch(payload []byte) error {
	bc, ok := s.srv.queue.(ShadowBatchCopier)
	if !ok || s.shadowVersion() < 6 {
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "XSHADOWBATCH not offered"}
	}
	// A copy's recipients are its primary's, taken under its own
	// limits: this connector's max_recipients does not bound a record
	// (rravail40: one past it was refused as malformed), maxCopyRcpts
	// does, as it bounds a copy's RCPTs (rr2avail40).
	copies, err := parseCopyBatch(payload, s.pendingBatch, s.maxCopyRcpts(), s.shadowVersion() >= BatchMarkVersion)
	if err != nil {
		reply := &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: replyText("Malformed shadow copy batch: " + err.Error())}
		s.srv.refusals.log(s.log, "shadow copy batch refused", err.Error(), reply, s.ip, "primary", s.shadowServer)
		return reply
	}
	replies := make([]*gosmtp.SMTPError, len(copies))
	keep := make([]queue.ShadowCopy, 0, len(copies))
	at := make([]int, 0, len(copies)) // keep[k] is copies[at[k]]
	for i, c := range copies {
		m, body, reply := s.batchMessage(c)
		if m == nil {
			replies[i] = reply
			continue
		}
		keep = append(keep, queue.ShadowCopy{M: m, Body: queue.MemBody(body), Mark: c.mark})
		at = append(at, i)
	}
	if len(keep) > 0 {
		var res []queue.CopyResult
		var err error
		if mc, ok := s.srv.queue.(MarkedCopier); ok && s.pendingCopyMark > 0 {
			res, err = mc.SubmitShadowCopiesMarked(s.srv.ctx, keep, s.shadowServer, s.primaryAddr(s.shadowServer), s.pendingCopyDB, s.pendingCopyMark)
		} else {
			res, err = bc.SubmitShadowCopies(s.srv.ctx, keep, s.shadowServer, s.primaryAddr(s.shadowServer), s.pendingCopyDB)
		}
		if err == nil {
			s.srv.storage.stored()
		}
		refused := s.refusedDatabase(err) // another primary's database id (rt17f-F1)
		withdrawn := false
		if err == nil {
			var fresh []queue.ID
			for k := range res {
				if res[k].New && res[k].Err == nil {
					fresh = append(fresh, keep[k].M.ID)
				}
			}
			withdrawn = s.withdrawAbandoned(fresh) // pushgiveup.go
		}
		for k, i := range at {
			m := keep[k].M
			switch {
			case refused != nil:
				replies[i] = refused
			case err != nil:
				if k == 0 {
					s.storeFailed("shadow copy batch not kept", err, "copies", len(keep), "primary", s.shadowServer)
				}
				if noStorage(err) {
					replies[i] = replyNoStorage
				} else {
					replies[i] = replyLocalError(m.ID)
				}
			case res[k].Err != nil:
				replies[i] = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: replyText("Shadow copy not kept: " + res[k].Err.Error())}
			case !res[k].Stored:
				replies[i] = &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Shadow copy already discarded"}
			case withdrawn && res[k].New:
				replies[i] = replyCopyWithdrawn
			default:
				replies[i] = &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Shadow copy kept as " + m.ID.String()}
			}
		}
	}
	s.log.Debug("shadow copy batch kept", "primary", s.shadowServer, "stored", len(keep), "copies", len(copies))
	return batchReply(replies, s.codes)
}

// batchMessage is one copy of a batch as its own transaction would be
// taken: MAIL (s.mail), each RCPT (s.rcptTo), the body (messageOf). It
// returns the message to keep and its bytes, or nil and the reply that
// refused it.
func (s *session) batchMessage(c batchCopy) (*queue.Message, []byte, *gosmtp.SMTPError) {
	asReply := func(err error) *gosmtp.SMTPError {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Shadow copy not kept"}
	}
	// Each copy's envelope is checked as a transaction of its own, inside
	// the batch's: the session stays busy (MAIL of the batch set it) until
	// the batch's reply is written and the protocol layer resets it, so
	// that a draining Shutdown never takes it for idle and cuts the batch.
	s.resetTransaction()
	opts := &gosmtp.MailOptions{UTF8: c.utf8, EnvelopeID: c.envID}
	if c.retFull {
		opts.Return = gosmtp.DSNReturnFull
	}
	if err := s.openMail(c.from, opts); err != nil {
		return nil, nil, asReply(err)
	}
	for _, to := range c.rcpts {
		if err := s.rcptTo(to, nil); err != nil {
			return nil, nil, asReply(err)
		}
	}
	id := s.srv.queue.NewID()
	trace := s.receivedHeader(id)
	buf := make([]byte, 0, len(trace)+len(c.body))
	buf = append(append(buf, trace...), c.body...)
	body, m, err := s.messageOf(id, trace, buf, false) // BDAT: no transparency
	if m == nil {
		return nil, nil, asReply(err)
	}
	if m.OrgID == "" {
		reply := &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "A shadow copy needs a valid organisation message id"}
		s.srv.refusals.log(s.log, "shadow copy refused", "no organisation message id", reply, s.ip, "primary", s.shadowServer)
		return nil, nil, reply
	}
	m.ShadowServer, m.ShadowID = "", ""
	noteGrown(m, int64(len(c.body)), int64(len(body)-len(trace))) // the primary's additions (carried) and this session's, as data() records them
	return m, body, nil
}

// CanPushBatch: the peer takes batches of copies (version 6) and
// pipelined commands with BDAT.
func (c *Client) CanPushBatch() bool {
	return c.ShadowVersion >= 6 && c.canPushOneTrip()
}

// BatchLimit is the most octets a batch's payload may hold for this
// peer: MaxBatchBytes, or less when the peer's SIZE is less.
func (c *Client) BatchLimit() int {
	limit := MaxBatchBytes
	if ok, p := c.Extension("SIZE"); ok {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			limit = min(limit, n)
		}
	}
	return limit
}

// rcptDSN reports whether a recipient of m has DSN parameters of its
// own (NOTIFY, ORCPT), which a batch record does not carry.
func rcptDSN(m *queue.Message) bool {
	for _, r := range m.Rcpts {
		if r.Notify != 0 || r.ORcpt != "" {
			return true
		}
	}
	return false
}

// CopyRecord is the record of m's copy (body: its stored bytes) in a
// batch to this peer, and false when the copy cannot go in a batch (its
// body would change by the DATA form, or its envelope does not fit a
// record): it then goes alone (PushCopy). To a peer of version 24 the
// record states m.HolderMark, the mark its own commit raised (flag M).
func (c *Client) CopyRecord(m *queue.Message, body []byte) ([]byte, bool) {
	if !batchable(m) || m.RetHdrs || rcptDSN(m) {
		// A record carries RET=FULL only (flag F): a copy given RET=HDRS
		// goes alone, with the parameter on its MAIL; and no recipient's
		// NOTIFY or ORCPT: a copy with one goes alone, with them on its
		// RCPTs (RcptOptionsOf) — a takeover answers the sender by them.
		return nil, false
	}
	parts := orgid.PartsRecord(m.Carried(), body)
	n, ok := oneTripLen(parts)
	if !ok {
		return nil, false
	}
	utf8 := m.UTF8
	if ok, _ := c.Extension("SMTPUTF8"); !ok && utf8 {
		if copyNeedsUTF8(m, body, true) {
			return nil, false // PushCopy refuses it (5.6.7)
		}
		utf8 = false // nothing in it needs the extension: as PushCopy sends it
	}
	var mark uint64
	if c.ShadowVersion >= BatchMarkVersion {
		mark = m.HolderMark // its own commit's (queue marks.go), 0 for none
	}
	return appendCopyRecord(make([]byte, 0, n+128), m, utf8, parts, n, mark), true
}

// PushBatch pushes the copies whose records are given (CopyRecord) as one
// batch (version 6), in one write, and reads the replies once. It returns
// each copy's outcome (nil: kept there, durable; a *gosmtp.SMTPError: that
// copy refused), or an error for the whole batch: a refusal of the batch
// (a *gosmtp.SMTPError; the session takes the next transaction), or a
// failure of the session (it is closed: never used again). dbID is this
// server's transport database id.
func (c *Client) PushBatch(records [][]byte, dbID string) ([]error, error) {
	return c.PushBatchMarked(records, dbID, 0)
}

// PushBatchMarked is PushBatch with the highest rollback mark the
// commits of the batch's copies raised (XSHADOWMARK=, to a peer of
// version 7; 0: none).
func (c *Client) PushBatchMarked(records [][]byte, dbID string, mark uint64) ([]error, error) {
	c.dataSent = false
	if !c.CanPushBatch() || c.ShadowDB == "" {
		return nil, ErrNoCopies
	}
	if len(records) < 1 || len(records) > MaxBatchCopies {
		return nil, fmt.Errorf("batch of %d copies (1 to %d)", len(records), MaxBatchCopies)
	}
	first, err := parseCopyBatch(records[0], 1, 0, true)
	if err != nil {
		return nil, fmt.Errorf("batch record: %w", err)
	}
	size := 0
	for _, r := range records {
		size += len(r)
	}
	head := make([]byte, 0, 160)
	head = append(head, "MAIL FROM:<> XSHADOWCOPY="...)
	head = append(head, dbID...)
	head = append(head, " XSHADOWBATCH="...)
	head = strconv.AppendInt(head, int64(len(records)), 10)
	if mark > 0 && c.ShadowVersion >= 7 {
		head = append(head, " XSHADOWMARK="...)
		head = strconv.AppendUint(head, mark, 10)
	}
	head = append(append(append(head, "\r\nRCPT TO:<"...), first[0].rcpts[0]...), ">\r\nBDAT "...)
	head = strconv.AppendInt(head, int64(size), 10)
	head = append(head, " LAST\r\n"...)
	conn := c.sc.Conn
	defer conn.SetDeadline(time.Time{})
	// As a copy pushed in one trip (pushone.go): the writes bounded by
	// progress, the replies' wait by data_timeout after the last.
	watch := watchBody(conn, c.CommandTimeout)
	defer watch.stop()
	fail := func(err error) ([]error, error) {
		conn.Close() // out of step: never used again
		return nil, err
	}
	c.txnOpen = true  // its MAIL goes with the group: a transaction until the BDAT's reply (or an RSET) ends it
	c.dataSent = true // the copies' octets go in the envelope's write
	if err := writeGroup(watch, head, records); err != nil {
		return fail(err)
	}
	watch.awaitReply(c.SubmissionTimeout)
	replied := c.awaitingReply()
	defer replied()
	br := c.sc.replies()
	var refused, mailRefused error
	for _, cmd := range []string{"MAIL", "RCPT"} {
		watch.waitAtLeast(c.CommandTimeout) // each envelope reply its own (README, command_timeout), and data_timeout after the last progress
		err := replyErr(br, cmd)
		if err != nil && !isReply(err) {
			if mailRefused != nil {
				// MAIL refused, then the session lost: nothing of the
				// batch kept there (pushOneTrip, rcpt43 item 2).
				return fail(errors.Join(mailRefused, err))
			}
			return fail(lostAfterWholeWrite(err, cmd, cmd == "MAIL"))
		}
		if refused == nil {
			refused = err
		}
		if cmd == "MAIL" {
			mailRefused = err
		}
	}
	watch.waitAtLeast(c.SubmissionTimeout) // the reply to the body: the copies made durable
	code, texts, err := readReplyCode(br)
	if err == nil {
		err = stray(code, texts)
	}
	if err != nil {
		if mailRefused != nil {
			return fail(errors.Join(mailRefused, replyTo("BDAT", err)))
		}
		return fail(lostAfterWholeWrite(replyTo("BDAT", err), "BDAT", false))
	}
	watch.stop() // every reply read: the RSET below has its own deadline
	if br.Buffered() > 0 {
		return fail(fmt.Errorf("%d unexpected bytes after the last reply", br.Buffered()))
	}
	if refused == nil && code/100 != 2 {
		refused = replyOf(code, texts)
	}
	if refused == nil {
		c.txnOpen = false // BDAT LAST taken: the transaction ended
	}
	if refused != nil {
		// The peer's transaction may be open (its MAIL taken): RSET,
		// so that the session takes the next copy.
		if err := c.Rset(); err != nil && !isReply(err) {
			return nil, errors.Join(refused, err)
		}
		return nil, refused
	}
	if c.codes {
		// Version 18: every copy's line starts with the code too (its
		// first line as well: go-smtp codes only the last).
		for i := range texts {
			texts[i] = uncoded(texts[i])
		}
	}
	out, err := parseBatchReply(texts, len(records))
	if err != nil {
		return fail(err)
	}
	return out, nil
}
