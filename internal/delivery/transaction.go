package delivery

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"umbra/internal/queue"
	"umbra/internal/smtp"

	gosmtp "github.com/emersion/go-smtp"
)

// transaction runs MAIL, RCPT… and DATA and maps every reply to a
// per-recipient result: 2xx done, 4xx deferred, 5xx failed.
// The message is given in parts sent one after the other (the
// organisation id line in front of the stored body, orgid.Parts): a relay
// attempt copies no body.
// stopReplyGrace bounds how long a stop waits for a body begun and the
// reply to its final dot (transaction).
const stopReplyGrace = 10 * time.Second

func (d *Deliverer) transaction(ctx context.Context, st *state, c *smtp.Client, hop string, m *queue.Message, parts [][]byte, rcpts []int, lmtp bool) []queue.Result {
	defer func() {
		if r := recover(); r != nil {
			// The session is out of step wherever the panic left it: it
			// is closed, never pooled; the group's recover (Deliver)
			// defers the recipients (panics.go).
			c.Close()
			panic(r)
		}
	}()
	if lmtp {
		// One transaction at a time per recipient mailbox (mailboxturn.go).
		return d.lmtpInTurns(ctx, hop, m, rcpts, func(rcpts []int) []queue.Result {
			return d.transactionBatches(ctx, st, c, hop, m, parts, rcpts, lmtp)
		}, c.Alive)
	}
	return d.transactionBatches(ctx, st, c, hop, m, parts, rcpts, lmtp)
}

// transactionBatches is transaction's work: one transaction, and more
// for the recipients a next hop refused as too many for one.
func (d *Deliverer) transactionBatches(ctx context.Context, st *state, c *smtp.Client, hop string, m *queue.Message, parts [][]byte, rcpts []int, lmtp bool) []queue.Result {
	var more batched
	res := d.transactionOnce(ctx, st, c, hop, m, parts, rcpts, lmtp, &more)
	// A next hop that takes only so many recipients per transaction
	// refuses the others at RCPT with 452 (or 4.5.3): "too many
	// recipients", which RFC 5321 §4.5.3.1.10 asks the client to meet by
	// sending them in another transaction, not by waiting a retry step
	// per batch. So, when a transaction had some recipients accepted and
	// its data sent (its session still in step), the ones refused so go
	// at once in the next transaction of the same session. Each round
	// has fewer recipients than the one before (one at least was
	// accepted): bounded by the recipients. A transaction where none was
	// accepted ends it; its 452s are deferrals as any other.
	// A primary below shadow verb version 8 names every copy of the
	// message by one id (queue/copyid.go): two transactions of one attempt
	// would be two records there under it, which a discard fetched between
	// them cannot tell apart here (queue freshCopies spares only a copy of
	// a later attempt): the refused ones wait for the next attempt.
	oneID := c.ShadowDB != "" && !lmtp && c.ShadowVersion < 8
	round := res
	for len(more.rcpts) > 0 && more.accepted && !oneID && !sessionEnded(res) && ctx.Err() == nil {
		rest, bodies := more.rcpts, c.BodiesBegun()
		// The round that ended is committed before the next begins: a
		// crash in the next must not leave the recipients it handed on
		// pending on disk, to be sent again by the next start.
		reportRound(ctx, round, rest)
		more = batched{}
		next := d.transactionOnce(ctx, st, c, hop, m, parts, rest, lmtp, &more)
		if c.BodiesBegun() == bodies && sessionGone(next) {
			// The next hop closed after the data (or answered the next
			// MAIL with 421) before any of these had their message: they
			// keep the reply of the transaction that refused them, and
			// go again on a new session (Deliver, batchedLeft).
			break
		}
		res = settledBy(res, next)
		round = next
	}
	return res
}

type markHopKey struct{}

// withMarkHop makes hop the host the stall marks of the transactions
// under ctx name (queue.InEnvelope, InMessageData, HostReplied,
// LeftTransaction): the LMTP server's recorded hop (queue.LMTPHop),
// where umbra's own words about its session say "lmtp" (local.go).
func withMarkHop(ctx context.Context, hop string) context.Context {
	return context.WithValue(ctx, markHopKey{}, hop)
}

// markHop is the host withMarkHop gave ctx, else hop.
func markHop(ctx context.Context, hop string) string {
	if h, ok := ctx.Value(markHopKey{}).(string); ok && h != "" {
		return h
	}
	return hop
}

// reportRound hands the results of a round of "too many recipients"
// transactions that ended to the queue, to be
// committed before the next round begins (queue.ReportGroup, through
// the group's report that completes them as Deliver does): all but
// those of rest, the recipients the next round sends. The job returns
// them among its results all the same (the queue commits each once).
func reportRound(ctx context.Context, res []queue.Result, rest []int) {
	var done []queue.Result
	for _, r := range res {
		if !slices.Contains(rest, r.Rcpt) {
			done = append(done, r)
		}
	}
	reportTurn(ctx, done)
}

// batched is what a transaction tells its caller of a next hop's limit
// of recipients per transaction: the recipients it refused at RCPT as
// too many (tooManyRcpts), and whether it accepted any.
type batched struct {
	rcpts    []int
	accepted bool
}

// tooManyRcpts reports whether err, a next hop's reply to RCPT, is
// "too many recipients": enhanced status 4.5.3 (RFC 3463), or code 452
// with no enhanced status (RFC 5321 §4.5.3.1.10).
func tooManyRcpts(err error) bool {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return false
	}
	if se.EnhancedCode == (gosmtp.EnhancedCode{4, 5, 3}) {
		return true
	}
	// A bare 452 is RFC 5321's "too many recipients" of old; one with an
	// enhanced code of its own says what it is — 4.2.2 mailbox full,
	// 4.3.1 out of storage — that recipient's deferral, no reason for
	// another transaction at once (rt39 F3).
	return se.Code == 452 && se.EnhancedCode[0] != 4
}

// sessionEnded reports whether a transaction's results end its session:
// a broken connection, a 421, or the message's expiry cutting it.
func sessionEnded(res []queue.Result) bool {
	for _, r := range res {
		if r.Outcome == queue.Deferred && (strings.HasPrefix(r.Reply, "421") || queue.SessionBroke(r.Reply, r.NextHop) || r.Reply == queue.ExpiredUnsentReply) {
			return true
		}
	}
	return false
}

// batchedLeft is the recipients of one delivery's results deferred with
// a next hop's "too many recipients" (tooManyReply) when another of them
// was delivered or relayed: the hop takes them, in another transaction.
// None of those when none of the results succeeded.
//
// Also the recipients whose LMTP mailbox turn came after their session
// had ended (turnSessionEndedReply): none of them was sent on it, and a
// transaction of others ran on it before (lmtpInTurns), so each round
// has fewer of them.
func batchedLeft(res []queue.Result) []int {
	var rest, turned []int
	ok := false
	for _, r := range res {
		switch {
		case r.Outcome == queue.ShadowedOK && !queue.PerTransactionID(r.ShadowID):
			return nil // a version-7 primary's copy: one id per message (transaction)
		case r.Outcome == queue.RelayedOK || r.Outcome == queue.DeliveredOK || r.Outcome == queue.ShadowedOK:
			ok = true
		case r.Outcome == queue.Deferred && r.Reply == turnSessionEndedReply:
			turned = append(turned, r.Rcpt)
		case r.Outcome == queue.Deferred && tooManyReply(r.Reply):
			rest = append(rest, r.Rcpt)
		}
	}
	if !ok {
		rest = nil
	}
	return append(rest, turned...)
}

// tooManyReply reports whether reply, a recipient's recorded reply, is a
// next hop's "too many recipients": 452 with no enhanced status or with
// 4.5.3, or any 4yz with 4.5.3 (not 452 4.2.2 "mailbox full", an LMTP
// server's reply to the data, nor 452 4.3.1 "insufficient storage").
func tooManyReply(reply string) bool {
	code, rest, _ := strings.Cut(reply, " ")
	status, _, _ := strings.Cut(rest, " ")
	if len(code) != 3 || code[0] != '4' {
		return false
	}
	if status == "4.5.3" {
		return true
	}
	return code == "452" && (strings.Count(status, ".") != 2 || !strings.HasPrefix(status, "4."))
}

// settledBy is res with each recipient's result replaced by its result
// in next, the later transaction that settled it.
func settledBy(res, next []queue.Result) []queue.Result {
	at := make(map[int]int, len(res))
	for k, r := range res {
		at[r.Rcpt] = k
	}
	for _, r := range next {
		if k, ok := at[r.Rcpt]; ok {
			res[k] = r
		} else {
			res = append(res, r)
		}
	}
	return res
}

// transactionOnce is one transaction of transaction; more gets the
// recipients refused at RCPT as too many, and whether any was accepted.
func (d *Deliverer) transactionOnce(ctx context.Context, st *state, c *smtp.Client, hop string, m *queue.Message, parts [][]byte, rcpts []int, lmtp bool, more *batched) (results []queue.Result) {
	if c.ShadowDB != "" && !lmtp {
		// A copy taken over from this very primary, which answered
		// XSHADOW with the database the copy was taken over from, goes
		// back to it unsent: the primary holds (or finished) the
		// original (queue/givebackrelay.go, rt16a F1).
		if back, rest := queue.GiveBackRcpts(m, rcpts, c.Hop(), c.ShadowDB); len(back) > 0 {
			out := make([]queue.Result, 0, len(rcpts))
			for _, i := range back {
				out = append(out, queue.GivenBackResult(m, i, c.Hop(), c.RemoteAddr(), c.Via, c.ShadowDB))
			}
			if len(rest) == 0 {
				d.queryDiscards(st, c, c.Hop()) // the original's discard, when it is done there
				return out
			}
			return append(out, d.transactionOnce(ctx, st, c, hop, m, parts, rest, lmtp, more)...)
		}
	}
	if lmtp { // final delivery: loops, and the trace fields are the LMTP server's
		body := joined(parts)
		// A loop is umbra's decision before the LMTP server is asked: no
		// next hop said it (a DSN quotes no reply of the server).
		if loops, rest := loopsAmong(m, body, rcpts, ""); len(loops) > 0 {
			if len(rest) == 0 {
				return loops
			}
			return append(loops, d.transactionOnce(ctx, st, c, hop, m, [][]byte{body}, rest, true, more)...)
		}
		parts = [][]byte{withoutTrace(body)}
	}
	if ok, _ := c.Extension("SMTPUTF8"); !ok && asciiText(m.From) {
		// A recipient whose address is not ASCII fails at a hop without
		// SMTPUTF8 (RFC 6531 §3.2); the ASCII ones of the same message
		// go on in a transaction without it (eightbit.go).
		if need, rest := utf8Rcpts(m, rcpts); len(need) > 0 {
			out := failAll(need, hop, queue.ReplyRcptNeedsSMTPUTF8)
			if len(rest) == 0 {
				return out
			}
			return append(out, d.transactionOnce(ctx, st, c, hop, m, parts, rest, lmtp, more)...)
		}
	}
	if queue.PastExpiry(ctx) {
		// The message expired during the attempt (an earlier host or
		// transaction took that long): nothing of it begins now
		// (queue/expirycut.go).
		return expiredUnsent(rcpts)
	}
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	tail, tailSize, closeTail, err := openTail(ctx) // a spooled body's file part (stream.go)
	if err != nil {
		return deferAll(rcpts, hop, queue.UnreadableReply(err))
	}
	defer closeTail()
	size += int(tailSize)
	// A stop (ctx) closes the connection at once — unless the message's
	// body has begun (BodiesBegun moved): from then on the next hop may
	// hold the whole message, dot included, before this goroutine knows
	// its last write is done, and closing would leave it delivered there
	// and due again here (SMTP's duplicate, RFC 1047). The body and the
	// reply to its final dot get up to stopReplyGrace more; a body still
	// unfinished then is cut, and the next hop discards it.
	var (
		stopMu sync.Mutex
		grace  *time.Timer
	)
	bodies := c.BodiesBegun()
	stop := context.AfterFunc(ctx, func() {
		stopMu.Lock()
		defer stopMu.Unlock()
		if !c.AbortUnlessBodyBegun(bodies) { // one step with the body's beginning (smtp.Client)
			grace = time.AfterFunc(d.stopGrace, func() { c.Close() })
		}
	})
	defer func() {
		stop()
		stopMu.Lock()
		if grace != nil {
			grace.Stop()
		}
		stopMu.Unlock()
	}()
	// The message's expiry reached while the session waits on the next
	// hop (a tarpit at RCPT) and before its body began: the connection
	// closes at once — the next hop has nothing of the message — and
	// the recipients the break left deferred are the expiry's
	// (queue/expirycut.go, rt24d F2). A body begun goes on: its end is
	// the next hop's to say.
	if reached := queue.ExpiryReached(ctx); reached != nil {
		var cut, over bool
		quit := make(chan struct{})
		go func() {
			// A panic here is umbra's defect (panics.go): the cut is
			// not made, the transaction ends as its session does.
			defer d.recoverLogged(PanicDelivery, "msg_id", m.ID.String(), "next_hop", hop)
			select {
			case <-reached:
				mayPanic(PanicDelivery)
				stopMu.Lock()
				defer stopMu.Unlock()
				if !over && c.AbortUnlessBodyBegun(bodies) { // one step with the body's beginning (smtp.Client)
					cut = true
				}
			case <-quit:
			}
		}()
		defer func() {
			close(quit)
			stopMu.Lock()
			over = true
			wasCut := cut
			stopMu.Unlock()
			if !wasCut {
				return
			}
			for i, r := range results {
				if r.Outcome == queue.Deferred && queue.SessionBroke(r.Reply, r.NextHop) {
					results[i] = expiredUnsent([]int{r.Rcpt})[0]
				}
			}
		}()
	}
	// Waiting for the next hop's replies (to the envelope, DATA and the
	// end of the message) is its time: a crash then is not this
	// message's (queue/peerwait.go).
	c.SetAwaitReply(func() func() { return queue.AwaitingPeer(ctx) })
	defer c.SetAwaitReply(nil)
	okOutcome := queue.RelayedOK
	if lmtp {
		okOutcome = queue.DeliveredOK
	}
	primary, shadowID := "", ""
	if c.ShadowDB != "" && !lmtp {
		primary = c.Hop()
		// Version 8: an id per transaction, so that a discard settles
		// only this transaction's copy (queue/copyid.go).
		shadowID = queue.RelayShadowID(m, rcpts, primary, c.ShadowDB, c.ShadowVersion >= 8)
		c.SetShadowID(shadowID)
		defer d.queryDiscards(st, c, primary)
	}
	opts := &gosmtp.MailOptions{Size: int64(size), EnvelopeID: m.EnvID}
	opts.Return = dsnReturn(m)
	if ok, _ := c.Extension("REQUIRETLS"); m.RequireTLS && ok && !lmtp {
		opts.RequireTLS = true // carried on (RFC 8689); a send connector's hop without it was refused before (tlsout.go)
	}
	if utf8, _ := c.Extension("SMTPUTF8"); m.UTF8 && utf8 {
		opts.UTF8 = true
	}
	// An address that needs SMTPUTF8, internationalised header fields or
	// 8-bit content only to a hop that takes them (eightbit.go): never
	// sent raw with the parameter dropped.
	if reply, err := contentRefusal(ctx, c, hop, m, parts, rcpts); err != nil {
		return deferAll(rcpts, hop, queue.UnreadableReply(err))
	} else if reply != "" {
		return failAll(rcpts, hop, reply)
	}
	if eight, err := declaresEightBit(ctx, c, m, parts); err != nil {
		return deferAll(rcpts, hop, queue.UnreadableReply(err))
	} else if eight {
		opts.Body = gosmtp.Body8BitMIME
	}
	// The stall marks name the host as the results record it (markHop):
	// the mailbox store's LMTP server by its address, not "lmtp".
	mark := markHop(ctx, hop)
	if lmtp {
		// LMTP answers the end of the message once per recipient
		// (RFC 2033 §4.2), minutes apart maybe: each reply is the server
		// answering, and the stall's since of those still waiting for
		// theirs moves with it.
		c.SetOnFinalReply(func() { queue.HostReplied(ctx, mark, rcpts) })
		defer c.SetOnFinalReply(nil) // a pooled session calls no mark of this transaction
	}
	if c.CanPipeline() { // RFC 2920: MAIL, RCPT… and DATA in one round trip
		c.SetBeforeBody(func() error {
			if queue.PastExpiry(ctx) {
				return errExpiredUnsent
			}
			return nil
		})
		// The recipients the next hop accepted are in the message data
		// from the replies to the envelope until the transaction ends:
		// a delay notice meanwhile says so (queue.InMessageData).
		// Those it refused left the transaction with their replies:
		// in no phase of it (queue.LeftTransaction).
		inEnvelope := queue.InEnvelope(ctx, rcpts, mark)
		defer inEnvelope()
		inData := func() {}
		defer func() { inData() }() // a panic in the pipeline leaves no mark behind
		defer c.SetInData(nil)      // nor a pooled session calling this transaction's marks
		defer c.SetOnReply(nil)
		defer c.SetOnGoAhead(nil)
		// The 354 to DATA is a reply too: the stall's since in the
		// message data moves with it.
		c.SetOnGoAhead(func() { queue.HostReplied(ctx, mark, rcpts) })
		// Each reply of the envelope as it comes: the host answering is
		// not a host that stopped answering (the stall's since moves
		// with it), and a recipient it refused has its reply now — a
		// notice made while later RCPTs' replies are awaited quotes a
		// refusal for now and leaves out one for good, not the stall.
		c.SetOnReply(func(k int, err error) {
			if k >= 0 && k < len(rcpts) && err != nil {
				queue.LeftTransaction(ctx, mark, []int{rcpts[k]}, []string{leftReply(hop, err)})
			}
			queue.HostReplied(ctx, mark, rcpts)
		})
		c.SetInData(func(replies []error) {
			var acc, refused []int
			var said []string
			for k, i := range rcpts {
				if k < len(replies) && replies[k] == nil {
					acc = append(acc, i)
				} else {
					refused = append(refused, i)
					if k < len(replies) {
						said = append(said, leftReply(hop, replies[k]))
					} else {
						said = append(said, "")
					}
				}
			}
			queue.LeftTransaction(ctx, mark, refused, said)
			inData = queue.InMessageData(ctx, acc, mark)
		})
		p := pipeline(c, m.From, opts, rcptList(m, rcpts), parts, tail, lmtp)
		c.SetBeforeBody(nil)
		c.SetInData(nil)
		c.SetOnReply(nil)
		c.SetOnGoAhead(nil)
		inData()
		if errors.Is(p.Err, errExpiredUnsent) {
			// The 354 came after the expiry: the connection was closed
			// before the body (queue/expirycut.go).
			var out []queue.Result
			for k, i := range rcpts {
				if p.Rcpts[k] != nil {
					out = append(out, stepResult(c, i, hop, "RCPT", p.Rcpts[k]))
				} else {
					out = append(out, expiredUnsent([]int{i})...)
				}
			}
			return out
		}
		if p.Mail == nil {
			for k, i := range rcpts {
				switch {
				case k >= len(p.Rcpts):
				case p.Rcpts[k] == nil:
					more.accepted = true
				case tooManyRcpts(p.Rcpts[k]):
					more.rcpts = append(more.rcpts, i)
				}
			}
		}
		return unreadableContent(pipelinedResults(c, hop, rcpts, p, lmtp, okOutcome, primary, shadowID), p.Err)
	}
	envelope := queue.AwaitingPeer(ctx) // MAIL and RCPT replies: the next hop's time
	defer envelope()
	inEnvelope := queue.InEnvelope(ctx, rcpts, mark) // a delay notice meanwhile names the phase
	defer inEnvelope()
	if err := c.Mail(m.From, opts); err != nil {
		return stepResults(c, rcpts, hop, "MAIL", err)
	}
	queue.HostReplied(ctx, mark, rcpts) // the stall's since is the host's last reply
	var out, accepted []queue.Result
	var acceptedAddrs []string
	// A recipient's RCPT answered out of step ends the session — after
	// this transaction, as a pipelined one's does (pipelinedResults):
	// the others are asked and the ones the host accepted, before it and
	// after it, get the message; each keeps its own reply, none the
	// out-of-step one it never got.
	ended := false
	defer func() {
		if ended {
			c.Close()
		}
	}()
	for _, i := range rcpts {
		r := &m.Rcpts[i]
		ro := rcptOptions(r)
		if err := c.Rcpt(r.Addr, ro); err != nil {
			if tooManyRcpts(err) {
				more.rcpts = append(more.rcpts, i)
			}
			// Answered: in no phase of the transaction the others go
			// on with; a notice meanwhile quotes a refusal for now, and
			// leaves out a recipient refused for good.
			queue.LeftTransaction(ctx, mark, []int{i}, []string{leftReply(hop, err)})
			if outOfStep(err) {
				// The host refused the command as out of order: it is
				// not in the message data, its state is its own to
				// keep; the others are asked as pipelining asks them.
				ended = true
				queue.HostReplied(ctx, mark, rcpts)
				out = append(out, outOfStepResult(i, hop, "RCPT", err))
				continue
			}
			res := stepResult(c, i, hop, "RCPT", err)
			if res.Answered || !queue.SessionBroke(res.Reply, hop) {
				queue.HostReplied(ctx, mark, rcpts)
			}
			out = append(out, res)
			if res.Outcome == queue.Deferred && queue.SessionBroke(res.Reply, hop) {
				// Connection lost, or a stray 3xx (its state unknown:
				// a host that took it for a 354 would read the next
				// commands as message data): the rest cannot be tried
				// now, and those accepted before it got no message:
				// each is deferred with the session's reply, none left
				// without a result.
				out = append(out, deferAll(indexes(accepted), hop, res.Reply)...)
				return append(out, deferAll(remaining(rcpts, i), hop, res.Reply)...)
			}
			continue
		}
		queue.HostReplied(ctx, mark, rcpts)
		accepted = append(accepted, queue.Result{Rcpt: i, NextHop: hop})
		acceptedAddrs = append(acceptedAddrs, r.Addr)
	}
	more.accepted = len(accepted) > 0
	if len(accepted) == 0 {
		if !ended {
			c.Rset() // umbra's RSET: go-smtp's Reset would have it greet again on the next use
		}
		return out
	}
	if queue.PastExpiry(ctx) {
		// The envelope's replies came after the message's expiry: the
		// transaction ends before DATA, nothing of it sent
		// (queue/expirycut.go).
		if !ended {
			c.Rset()
		}
		return append(out, expiredUnsent(indexes(accepted))...)
	}
	n := 1
	if lmtp {
		n = len(accepted) // LMTP: one reply per accepted recipient
	}
	envelope()
	inData := queue.InMessageData(ctx, indexes(accepted), mark) // DATA, the body, its final reply
	defer inData()                                              // a panic in sendData leaves no mark behind
	// The 354 to DATA is the host's reply: the stall's since moves.
	c.SetOnGoAhead(func() { queue.HostReplied(ctx, mark, indexes(accepted)) })
	defer c.SetOnGoAhead(nil) // a pooled session calls no mark of this transaction
	replies, err := sendData(c, parts, tail, n)
	c.SetOnGoAhead(nil)
	inData()
	var se *gosmtp.SMTPError
	if len(replies) == 0 && errors.As(err, &se) {
		return append(out, stepResults(c, indexes(accepted), hop, "DATA", err)...) // DATA refused
	}
	return append(out, unreadableContent(finalResults(c, hop, accepted, replies, err, lmtp, okOutcome, primary, shadowID), err)...)
}

// unreadableContent gives the recipients a transaction deferred because
// the content could not be read (its spool file cut short: the client
// closed the connection without the final ".", smtp.Client.sendData)
// that reason instead of a broken connection's: the next hop did
// nothing wrong (no mark against its destination), and the queue holds
// the message as poison (queue.Manager.complete).
func unreadableContent(res []queue.Result, err error) []queue.Result {
	if !errors.Is(err, queue.ErrBodyUnreadable) {
		return res
	}
	for k := range res {
		if res[k].Outcome == queue.Deferred && queue.SessionBroke(res[k].Reply, res[k].NextHop) {
			res[k].Reply = queue.UnreadableReply(err)
		}
	}
	return res
}

// finalResults maps the replies to the end of the message onto the
// accepted recipients: one reply for all (SMTP) or one each (LMTP); a
// reply missing because the connection broke defers its recipients.
// The results are written over accepted (its k-th is read before the
// k-th result is written): no copy per recipient.
func finalResults(c *smtp.Client, hop string, accepted []queue.Result, replies []smtp.DataReply, err error, lmtp bool, okOutcome queue.Outcome, primary, shadowID string) []queue.Result {
	out := accepted[:0]
	for k, a := range accepted {
		r := 0 // SMTP: one reply for all
		if lmtp {
			r = k
		}
		switch {
		case r >= len(replies):
			// The connection broke before this reply: the message may or
			// may not have arrived; it is sent again (at least once).
			a = queue.Result{Rcpt: a.Rcpt, Outcome: queue.Deferred, NextHop: hop,
				Reply: queue.SessionFailedReply(hop, finalReplyMissing(err))}
		case lmtp && outOfStep(replies[r].Err):
			// An LMTP server's 503 (500, 502) to the end of the message
			// for this recipient is a sequence error of its session, no
			// verdict on the recipient (RFC 2033 §4.2 gives every
			// recipient a reply of its own, judged on the message): it
			// is deferred quoting the server's words, and the session
			// ends (the out-of-step rule below), never failed for good.
			// Out of step at the end of the message, not at the DATA its
			// 354 accepted: the message went to the server, and it is
			// not sent again in this attempt (queue.OutOfStepAfterBody,
			// nextHostFor).
			a = outOfStepResult(a.Rcpt, hop, queue.EndOfMessage, replies[r].Err)
		case replies[r].Err != nil:
			a = classify(a.Rcpt, hop, replies[r].Err)
		default:
			a.Outcome, a.Reply = okOutcome, replies[r].Reply() // the host's own code: 251 stays 251 (RFC 3464)
		}
		if a.Outcome == okOutcome && !lmtp {
			// go-smtp passed NOTIFY, ORCPT, RET and ENVID on when the
			// next hop advertised DSN: success is then its to report.
			a.DSNPassed, _ = c.Extension("DSN")
		}
		if a.Outcome == okOutcome && shadowID != "" {
			a.Outcome, a.Primary, a.PrimaryAddr, a.ShadowID, a.PrimaryVia = queue.ShadowedOK, primary, c.RemoteAddr(), shadowID, c.Via
			a.PrimaryDB = c.ShadowDB // the database the copy is made against (SR-13)
		}
		out = append(out, a)
	}
	return out
}

// rcptOptions are a recipient's DSN parameters for RCPT TO.
// dsnReturn is the RET parameter (RFC 3461 §4.3) the sender gave, to be
// passed on as given: RET=HDRS dropped would let the next hop return
// the whole message in its DSN, which the sender asked not to have.
func dsnReturn(m *queue.Message) gosmtp.DSNReturn {
	switch {
	case m.RetFull:
		return gosmtp.DSNReturnFull
	case m.RetHdrs:
		return gosmtp.DSNReturnHeaders
	}
	return ""
}

func rcptOptions(r *queue.Recipient) *gosmtp.RcptOptions { return smtp.RcptOptionsOf(r) }

// rcptList is the RCPT commands for recipients rcpts of m, whose
// addresses Deliver gave their canonical form (plan.go canonical): a
// recipient queued otherwise by an earlier release is sent as RCPT
// would have stored it (rt16d F1).
func rcptList(m *queue.Message, rcpts []int) []smtp.Recipient {
	out := make([]smtp.Recipient, len(rcpts))
	for k, i := range rcpts {
		out[k] = smtp.Recipient{Addr: m.Rcpts[i].Addr, Opts: rcptOptions(&m.Rcpts[i])}
	}
	return out
}

// pipelinedResults maps a pipelined transaction onto per-recipient
// results exactly as the lock-step path does: a refused MAIL refuses
// every recipient with its reply, each RCPT reply decides its
// recipient, a refused DATA refuses the accepted ones, the final
// replies decide the rest, and a break of the connection defers every
// recipient whose outcome was not read (451 4.4.2: sent again).
func pipelinedResults(c *smtp.Client, hop string, rcpts []int, p *smtp.Pipelined, lmtp bool, okOutcome queue.Outcome, primary, shadowID string) []queue.Result {
	if p.Mail != nil {
		return stepResults(c, rcpts, hop, "MAIL", p.Mail)
	}
	if p.Err != nil && p.Rcpts == nil {
		return classifyAll(rcpts, hop, p.Err)
	}
	var out []queue.Result
	accepted := make([]queue.Result, 0, len(rcpts)) // one allocation, not one growth per recipient
	for k, i := range rcpts {
		switch {
		case k >= len(p.Rcpts):
			out = append(out, classify(i, hop, p.Err))
		case p.Rcpts[k] != nil:
			out = append(out, stepResult(c, i, hop, "RCPT", p.Rcpts[k]))
		default:
			accepted = append(accepted, queue.Result{Rcpt: i, NextHop: hop})
		}
	}
	if len(accepted) == 0 {
		if p.Err == nil {
			c.Rset() // after an out-of-step reply (stepResult closed c) it fails, and the session is not kept
		}
		return out
	}
	if len(p.Rcpts) < len(rcpts) { // broke before the DATA: nothing was sent
		return append(out, classifyAll(indexes(accepted), hop, p.Err)...)
	}
	if p.Data != nil {
		if p.Err == nil && !outOfStep(p.Data) {
			c.Rset()
		}
		return append(out, stepResults(c, indexes(accepted), hop, "DATA", p.Data)...) // DATA refused
	}
	final := finalResults(c, hop, accepted, p.Final, p.Err, lmtp, okOutcome, primary, shadowID)
	if len(out) == 0 {
		return final // every recipient accepted: no copy
	}
	return append(out, final...)
}

// joined is the message whole: its only part, or the parts copied once.
func joined(parts [][]byte) []byte {
	if len(parts) == 1 {
		return parts[0]
	}
	return bytes.Join(parts, nil)
}

// finalReplyMissing says why a reply to the end of the message is
// missing: no reply within the data timeout, a reply that does not
// parse (smtp.FinalReplyError: the whole message was sent), or the
// connection lost during DATA (before the dot, or closed after it).
func finalReplyMissing(err error) string {
	var fr *smtp.FinalReplyError
	if errors.As(err, &fr) && (fr.TimedOut() || fr.Unreadable()) {
		return fr.Error()
	}
	return "connection lost during DATA: " + errText(err)
}

func errText(err error) string {
	if err == nil {
		return "no reply"
	}
	return err.Error()
}

// replySeam, when set (tests only), sees every error reply classify
// maps: a test drives a next hop's reply into a panic there.
var replySeam func(error)

func classify(i int, hop string, err error) queue.Result {
	if replySeam != nil {
		replySeam(err)
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code < 400 {
		// Not an error reply at all (a 3xx to RCPT, which go-smtp hands
		// back as one): the next hop is out of step. Its words must not
		// stand as the reason mail waits, and the session ends (a 451
		// 4.4.2 closes it: pool.go) — but the host answered, as one out
		// of step does: no failed contact of its destination (Answered).
		return queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Answered: true, Reply: queue.StrayReply(hop, strconv.Quote(smtp.Reply(err)))}
	}
	if smtp.Stray(err) && !errors.As(err, new(*smtp.FinalReplyError)) {
		// The same out of step reply read by umbra's own reader (a 3xx
		// to MAIL, RCPT or the DATA command: smtp.Client's stray): the
		// session ends, the host answered. Its words are the stray
		// deferral's, as go-smtp's reading of it gives above, so that
		// the queue reads them back after a restart (HostsAnswered):
		// "HOP: reply to MAIL: unexpected reply …" was no reading's.
		return queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Answered: true, Reply: queue.StrayReply(hop, smtp.StrayQuoted(err))}
	}
	if smtp.NotSent(err) {
		// umbra could not write the command (go-smtp refused to format
		// it: nothing was sent, the session is intact). Not a lost
		// connection — which would defer every recipient after this one
		// and count against the destination —, and not the next hop's
		// reply: the same record gives the same refusal at every
		// attempt, so this recipient (all of them for a MAIL) fails
		// now, in umbra's words naming the hop (rr27 F3).
		return queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: hop, Reply: "554 5.5.4 " + hop + ": " + err.Error()}
	}
	if errors.As(err, &se) {
		o := queue.Deferred
		if smtp.Permanent(err) {
			o = queue.FailedPerm
		}
		// The host's own reply: it answered, whatever the status (its
		// "451 4.4.2 too busy" to MAIL, its own 4.7.5) — unless it
		// closed the session with it (421, RFC 5321 §3.8).
		return queue.Result{Rcpt: i, Outcome: o, NextHop: hop, Reply: smtp.Reply(err), Answered: se.Code != 421}
	}
	return queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Reply: queue.SessionFailedReply(hop, err.Error())}
}

// The out-of-step rule. umbra sends MAIL only on a session with no
// transaction open (after EHLO, or after the end of the last one: RSET
// or the reply to its data), RCPT only after an accepted MAIL, DATA
// only after an accepted RCPT — pipelined too, where a refused MAIL or
// RCPT decides its recipients before the replies behind it. So a reply
// to one of them that says the command came out of order or was not
// understood — 503 (bad sequence of commands), 500 (command not
// recognised), 502 (not implemented), with no enhanced status or a
// 5.5.x one (a protocol status, RFC 3463 X.5.x) — says the next hop is
// out of step with the session (a transaction of a message before left
// open there, its state confused), not that it refuses this message: a
// permanent failure of the recipients on it would bounce mail the
// next hop never judged (a 503 "nested MAIL command" on a reused
// session failed its message for good). The recipients are deferred
// with umbra's "451 4.4.2 HOP: out of step at CMD: REPLY", which ends
// the session (pool.go: closed, never pooled; a reused one's message
// goes on a fresh connection in the same attempt: reuse); the retry
// schedule takes it from there, and expiry fails it quoting the
// host's reply. A 5xx with a status of its own (501 5.1.7 a bad
// sender, 503 5.7.0 authentication required) is a refusal as before.
// The reply to the end of the message is no step of this rule: the
// next hop read the whole message and judged it — except an LMTP
// server's per-recipient 500, 502 or 503 (finalResults): LMTP judges
// each recipient on its own, and a sequence error there is its
// session's, deferred as the rule defers it.

// outOfStep reports whether err, a next hop's reply to MAIL, RCPT or
// DATA, is out of step rather than a refusal (the rule above).
func outOfStep(err error) bool {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || smtp.NotSent(err) {
		return false
	}
	switch se.Code {
	case 500, 502, 503:
	default:
		return false
	}
	e := se.EnhancedCode
	return e == gosmtp.EnhancedCode{} || e == gosmtp.NoEnhancedCode || e[0] == 5 && e[1] == 5
}

// stepResult is classify for the reply err to cmd (MAIL, RCPT or DATA)
// on c: an out-of-step reply defers recipient i with the host's reply
// quoted and ends the session (the rule above).
func stepResult(c *smtp.Client, i int, hop, cmd string, err error) queue.Result {
	if !outOfStep(err) {
		return classify(i, hop, err)
	}
	c.Close()
	return outOfStepResult(i, hop, cmd, err)
}

// outOfStepResult is recipient i's deferral for the reply err to cmd
// out of step; the caller ends the session (stepResult at once; a
// lock-step RCPT's transaction after its accepted recipients had their
// message).
func outOfStepResult(i int, hop, cmd string, err error) queue.Result {
	return queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Answered: true, Reply: queue.OutOfStepReply(hop, cmd, smtp.Reply(err))}
}

// stepResults is stepResult for every one of rcpts.
func stepResults(c *smtp.Client, rcpts []int, hop, cmd string, err error) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = stepResult(c, i, hop, cmd, err)
	}
	return out
}

// deferredReply is the reply of err as classify's result holds it when
// err is the next hop's temporary refusal (4xx), else "": a delay
// notice made before the transaction ends quotes it
// (queue.LeftTransaction). A permanent refusal is not one a delay
// notice reports.
func deferredReply(err error) string {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && !smtp.NotSent(err) {
		return smtp.Reply(err)
	}
	return ""
}

// leftReply is what a recipient whose RCPT got err leaves its
// transaction with (queue.LeftTransaction): a refusal for now as
// deferredReply, or its failure for good as classify's result holds it
// (the host's 5xx, umbra's 554 5.5.4 for a command it could not write),
// which a delay notice made before the transaction ends does not list:
// it is not retried, its failure DSN quotes it. "" for anything else
// (a broken connection, a reply out of step: the session ends with the
// transaction).
func leftReply(hop string, err error) string {
	if r := deferredReply(err); r != "" {
		return r
	}
	if smtp.NotSent(err) {
		return "554 5.5.4 " + hop + ": " + err.Error()
	}
	if smtp.Permanent(err) && !outOfStep(err) {
		return smtp.Reply(err)
	}
	return ""
}

func classifyAll(rcpts []int, hop string, err error) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = classify(i, hop, err)
	}
	return out
}

// errExpiredUnsent abandons a pipelined transaction whose message
// expired before its body began (smtp.Client.SetBeforeBody).
var errExpiredUnsent = errors.New("the message expired before its body was sent")

// expiredUnsent answers rcpts of a message whose expiry passed before
// its body was sent: umbra's decision, no host's reply (no next hop).
func expiredUnsent(rcpts []int) []queue.Result {
	return deferAll(rcpts, "", queue.ExpiredUnsentReply)
}

func deferAll(rcpts []int, hop, reply string) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop, Reply: reply}
	}
	return out
}

func failAll(rcpts []int, hop, reply string) []queue.Result {
	out := deferAll(rcpts, hop, reply)
	for k := range out {
		out[k].Outcome = queue.FailedPerm
	}
	return out
}

func remaining(rcpts []int, after int) []int {
	for k, i := range rcpts {
		if i == after {
			return rcpts[k+1:]
		}
	}
	return nil
}

func indexes(rs []queue.Result) []int {
	out := make([]int, len(rs))
	for k, r := range rs {
		out[k] = r.Rcpt
	}
	return out
}
