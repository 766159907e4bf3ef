package delivery

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"umbra/internal/mailbox"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// suppressDuplicates answers the recipients whose copy of this message
// is already in their mailbox database (and holds back those whose copy
// is being delivered by another attempt right now), and returns the
// others, each now claimed by this attempt. delivered is the reply a
// first delivery on this path gives: a duplicate's, which a DSN quotes
// to the sender, is the same (it was delivered, once); what happened,
// with the organisation id, is the operator's (Note), never the
// sender's (rt44 L1).
func suppressDuplicates(st *state, m *queue.Message, db string, rcpts []int, hop, delivered string) ([]queue.Result, []int) {
	if st.cfg.Dedup == nil || m.OrgID == "" {
		return nil, rcpts
	}
	var dup []queue.Result
	var rest []int
	for _, i := range rcpts {
		switch st.cfg.Dedup.ClaimFinal(m.ID, db, m.OrgID, m.Rcpts[i].Addr) {
		case queue.Duplicate:
			dup = append(dup, queue.Result{Rcpt: i, Outcome: queue.DeliveredOK, NextHop: hop, Duplicate: true, Reply: delivered,
				Note: "duplicate suppressed: org id " + m.OrgID + " was delivered to database " + db + " before"})
		case queue.Busy:
			dup = append(dup, queue.Result{Rcpt: i, Outcome: queue.Deferred, NextHop: hop,
				Reply: "451 4.3.0 another delivery of this message to the mailbox is in progress",
				Note:  "451 4.3.0 another copy of org id " + m.OrgID + " is being delivered to database " + db})
		default:
			rest = append(rest, i)
		}
	}
	return dup, rest
}

// The replies of a delivery into this server's mailbox store.
const (
	maildirDelivered = "250 2.0.0 delivered to maildir"
	mailboxDelivered = "250 2.0.0 delivered"
)

func (d *Deliverer) deliverLocal(ctx context.Context, st *state, m *queue.Message, body []byte, g *group) []queue.Result {
	delivered := mailboxDelivered // the reply of a mailbox server (LMTP) that was not asked
	if st.maildir != nil {
		delivered = maildirDelivered
	}
	dup, rcpts := suppressDuplicates(st, m, g.db, g.rcpts, "mailbox", delivered)
	if len(rcpts) == 0 {
		return dup
	}
	// An LMTP transaction that ends while others of the job wait for
	// their mailbox's turn is reported then (mailboxturn.go), as Deliver
	// completes the job's results.
	ctx = withTurnReport(ctx, func(res []queue.Result) {
		res = slices.Clone(res)
		for k := range res {
			if res[k].NextHop == "lmtp" {
				res[k].NextHop = queue.LMTPHop(st.cfg.Mailbox.LMTP)
			}
			res[k].Queue = g.queue
			if res[k].Outcome == queue.DeliveredOK {
				res[k].Database = g.db
			}
		}
		queue.ReportGroup(ctx, res)
	})
	return append(dup, d.deliverLocalNew(ctx, st, m, body, g.db, rcpts)...)
}

func (d *Deliverer) deliverLocalNew(ctx context.Context, st *state, m *queue.Message, body []byte, db string, rcpts []int) []queue.Result {
	if st.maildir != nil {
		var out []queue.Result
		for _, i := range rcpts {
			if r, loop := deliveredBefore(m, body, i, "maildir"); loop {
				out = append(out, r)
				continue
			}
			// The canonical address, as Deliver gave it (plan.go
			// canonical): the mailbox writer takes no other (rt16d F1).
			addr := m.Rcpts[i].Addr
			at := strings.LastIndexByte(addr, '@')
			if d.unknownLocal(ctx, addr) {
				out = append(out, queue.Result{Rcpt: i, Outcome: queue.FailedPerm, NextHop: "maildir", Reply: "550 5.1.1 <" + addr + ">: no such mailbox"})
				continue
			}
			err := d.maildirWrite(ctx, st, addr[:at], addr[at+1:], m.From, mailbox.Name(db, m.OrgID, addr), withoutTrace(body), mailboxCheck(m))
			r := queue.Result{Rcpt: i, Outcome: queue.DeliveredOK, NextHop: "maildir", Reply: maildirDelivered}
			if errors.Is(err, mailbox.ErrAlreadyDelivered) {
				// Another server of a shared store (or an earlier attempt)
				// wrote this copy: not a delivery of this attempt. The
				// queue keeps no duplicate record and no dumpster copy of
				// it, unless the message repeats an attempt of this
				// server whose results were lost (queue: the redelivery
				// bucket), when they went with that commit, or the
				// recipient is of a copy taken over from a primary, whose
				// lost commit they went with (rt36 F1), or of a copy the
				// server that took it over handed on here (MayRepeat).
				r.Duplicate, r.Note = true, "duplicate suppressed: org id "+m.OrgID+" already in the maildir"
				err = nil
			}
			if err != nil {
				d.log.Error("maildir delivery failed", "msg_id", m.ID.String(), "rcpt", addr, "err", err)
				r.Outcome, r.Reply = queue.Deferred, maildirFailedReply(err)
				if errors.Is(err, queue.ErrBodyUnreadable) { // nothing went into new/ (mailbox.DeliverFrom)
					r.Reply = queue.UnreadableReply(err)
				}
			}
			out = append(out, r)
		}
		return out
	}
	if st.cfg.Mailbox.LMTP == "" {
		return deferAll(rcpts, "local", "451 4.3.5 no mailbox delivery configured")
	}
	network, addr := "tcp", st.cfg.Mailbox.LMTP
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	if queue.PastExpiry(ctx) {
		return expiredUnsent(rcpts) // expired during the attempt: no session opens for it (expiryopen.go)
	}
	connected := queue.AwaitingPeer(ctx) // connecting runs nothing on the message (queue/peerwait.go)
	octx, opened := untilExpiry(ctx)     // the opening cut at the message's expiry (expiryopen.go)
	defer opened()
	nc, err := st.dial(octx, nil, network, addr)
	if err != nil {
		connected()
		if queue.PastExpiry(ctx) {
			return expiredUnsent(rcpts)
		}
		return deferAll(rcpts, queue.LMTPHop(st.cfg.Mailbox.LMTP), queue.LMTPUnreachable+err.Error())
	}
	c, err := smtp.NewClient(octx, nc, smtp.ClientOptions{LocalName: st.cfg.Hostname, LMTP: true,
		CommandTimeout: st.cfg.CommandTimeout, DataTimeout: st.cfg.DataTimeout})
	connected()
	opened()
	if err != nil && queue.PastExpiry(ctx) {
		return expiredUnsent(rcpts)
	}
	if err != nil {
		return deferAll(rcpts, queue.LMTPHop(st.cfg.Mailbox.LMTP), queue.LMTPGreetingFailed+smtp.Reply(err))
	}
	defer c.Close()  // a panic of the transaction too (endLMTP ends it otherwise; a second close does nothing)
	c.SetHop("lmtp") // its own words about the session begin "lmtp: " (queue lmtpOwnTexts)
	// umbra's own words about the session say "lmtp" (what a DSN may
	// quote names no address of the organisation); the results name the
	// server, as a relay's name its host (message show, tracking).
	// A delay notice or message show made while it runs names the
	// server as the results will (withMarkHop), not "lmtp".
	out := d.transaction(withMarkHop(ctx, queue.LMTPHop(st.cfg.Mailbox.LMTP)), st, c, "lmtp", m, [][]byte{body}, rcpts, true)
	endLMTP(ctx, c, out)
	for k := range out {
		if out[k].NextHop == "lmtp" {
			out[k].NextHop = queue.LMTPHop(st.cfg.Mailbox.LMTP)
		}
	}
	return out
}

// mailboxCheck is how far the Maildir writer looks for a copy of m in
// the mailbox before it writes (mailbox.Check), by what the queue knows
// of one written before (queue.Message.Prior): the first attempt of a
// message no attempt of this server began on reads no directory (its
// cost does not grow with the mailbox: CheckFirst); a later attempt or
// a copy taken over looks for its file name in every folder; a dumpster
// redelivery's copy, a repeat of an attempt whose results were lost and
// a restored message also by the org id in the header of a file a
// reader renamed (one scan of the mailbox per request, per repeat, or
// per ten minutes of restored messages: queue.Message.Scan).
//
// A copy that may repeat another server's lost write (MayRepeat: handed
// on by the server that took it over from its primary) is looked for
// by name as the taken-over copy would be, also at its first attempt
// here: the primary's file may be in any folder by now.
func mailboxCheck(m *queue.Message) mailbox.Options {
	switch m.Prior {
	case queue.PriorNone:
		if m.MayRepeat {
			return mailbox.Options{Check: mailbox.CheckNames}
		}
		return mailbox.Options{Check: mailbox.CheckFirst}
	case queue.PriorRedelivery:
		return mailbox.Options{Check: mailbox.CheckHeaders, OrgID: m.OrgID, Scan: m.Scan}
	default:
		return mailbox.Options{Check: mailbox.CheckNames}
	}
}

// maildirFailedReply is the deferral of a Maildir write that failed: the
// system's words for its cause (the errno's: "permission denied",
// "read-only file system", "no space left on device", "not a
// directory"), so that message show and queue list tell the operator
// what the log says — never the path, which holds the recipient's
// address, nor anything of the body. An error with no errno (a message
// of umbra's own) is left at "maildir write failed", the log has it.
func maildirFailedReply(err error) string {
	const reply = "451 4.3.0 maildir write failed"
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return reply + ": " + errno.Error()
	}
	return reply
}

// endLMTP ends a delivery's LMTP session: with QUIT, its reply awaited
// briefly (smtp.Client.QuitBounded; the next hop's time), when the
// server is still in step — closed with none when the session broke or
// the expiry cut it (a reply that never came, a lost connection: 451
// 4.4.2, as finishConn tells a pooled one), where a QUIT would only
// wait for nothing (rt41 F4: every session was closed with no QUIT).
func endLMTP(ctx context.Context, c *smtp.Client, res []queue.Result) {
	for _, r := range res {
		if r.Outcome == queue.Deferred && (queue.SessionBroke(r.Reply, r.NextHop) || r.Reply == queue.ExpiredUnsentReply) {
			c.Close()
			return
		}
	}
	quit(ctx, c)
}
