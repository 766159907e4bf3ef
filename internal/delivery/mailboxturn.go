package delivery

import (
	"context"
	"strings"
	"sync"

	"umbra/internal/queue"
)

// One LMTP transaction at a time per recipient mailbox (SR-11).
//
// Dovecot's duplicate database (Sieve's duplicate test, the shipped
// deploy/dovecot rule umbra's exactly-once delivery over LMTP rests on)
// loses records when several LMTP sessions deliver to one user at the
// same time: the copy a restart repeats after a kill -9 between the
// mailbox's 250 and umbra's commit is then stored a second time. So, as
// Postfix's per-recipient concurrency of local delivery
// (local_destination_recipient_limit), umbra never has two LMTP
// transactions in flight to one recipient mailbox: a transaction takes
// the turn of each of its recipients (mailboxTurns); a recipient whose
// mailbox is in another transaction of this server waits for it
// (holding no turn while it waits, so no two sessions wait on each
// other), and goes in a transaction of its own on the same session when
// it is free; the message's other recipients and every other mailbox go
// on in parallel, but the waiting job keeps its session, one connection of the
// destination's window: a backlog to one mailbox can hold the whole
// window in jobs waiting for its turn, and another mailbox's message
// waits for a connection behind them (README, rt39 F5). That wait is
// the destination's alone: a waiting job lends its message's slot of
// the active set to other destinations' mail (queue.WaitingTurn;
// TestQ6MailboxTurnWaitHoldsNoActiveSlot).
//
// A mailbox is its address, case folded, without a +detail (Dovecot's
// recipient_delimiter maps u+x and u to one user): two addresses Dovecot
// may take for one user wait for each other. The turns are this process's:
// two hubs delivering to one mailbox server are not serialised by them
// (Dovecot's lmtp_user_concurrency_limit = 1 would be, at a retry step
// for each refused RCPT: shown commented out in the shipped
// deploy/dovecot configuration; README).
type mailboxTurns struct {
	mu   sync.Mutex
	busy map[string]chan struct{} // closed when the mailbox's turn is given back
}

// mailboxKey is the mailbox an address delivers to, as Dovecot's user.
func mailboxKey(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	return local + domain
}

// take gives the caller the turn of every recipient of rcpts whose
// mailbox is free (got; two recipients of one mailbox: the first), and
// returns the others (left) and a channel closed when one of their
// mailboxes is free again (nil when none is left). give hands the
// turns of got back.
func (t *mailboxTurns) take(m *queue.Message, rcpts []int) (got, left []int, free <-chan struct{}, give func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.busy == nil {
		t.busy = map[string]chan struct{}{}
	}
	var keys []string
	var wait chan struct{}
	for _, i := range rcpts {
		k := mailboxKey(m.Rcpts[i].Addr)
		if ch, ok := t.busy[k]; ok {
			left = append(left, i)
			if wait == nil {
				wait = ch
			}
			continue
		}
		t.busy[k] = make(chan struct{})
		keys = append(keys, k)
		got = append(got, i)
	}
	return got, left, wait, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, k := range keys {
			close(t.busy[k])
			delete(t.busy, k)
		}
	}
}

// lmtpInTurns runs the LMTP transactions of rcpts on c, one at a time
// per recipient mailbox of this server (mailboxTurns): those whose
// mailbox is free go at once; the others after the transaction that
// holds their mailbox ends, each batch a transaction of its own on the
// same session. Waiting ends at the message's expiry (its recipients
// left unsent, ExpiredUnsentReply) or the attempt's end (a stop: they are
// deferred as waiting for the mailbox, sent nothing). A batch whose turn
// comes when the session is no longer alive (alive: the client's check,
// no round trip) is not sent on it: deferred with turnSessionEndedReply,
// which Deliver sends again at once on a new session.
func (d *Deliverer) lmtpInTurns(ctx context.Context, hop string, m *queue.Message, rcpts []int, run func(rcpts []int) []queue.Result, alive func() bool) []queue.Result {
	var res []queue.Result
	ran := false // a transaction of the job ran on the session
	for len(rcpts) > 0 {
		got, left, free, give := d.turns.take(m, rcpts)
		if len(got) > 0 && ran && !alive() {
			// The session ended while these waited for their turn:
			// closed by umbra after a DATA the server opened without a
			// recipient (smtp pipeline.go), or by the server, idle. None
			// of them was sent on it: Deliver sends them at once on a
			// new session (batchedLeft), not on this one, where each
			// was deferred as if the server had broken it.
			give()
			return append(res, deferAll(rcpts, hop, turnSessionEndedReply)...)
		}
		if len(got) > 0 {
			ran = true
			out := func() []queue.Result {
				defer give()
				return run(got)
			}()
			res = append(res, out...)
			if len(left) > 0 {
				// Its other recipients wait for their mailboxes' turn:
				// this transaction's results go to the queue now
				// (committed, known to a delay notice made meanwhile),
				// not when the job ends (rt39 F3).
				reportTurn(ctx, out)
				for _, r := range out {
					if sessionEnded([]queue.Result{r}) {
						// The session ended (421, broken, the expiry): the
						// waiting ones go on the next attempt, in its words.
						return append(res, deferAll(left, r.NextHop, r.Reply)...)
					}
				}
			}
			rcpts = left
			continue
		}
		// Waiting lends the message's slot of the active set to other
		// destinations' mail (queue.WaitingTurn): a backlog to one
		// mailbox holds its own destination's window, nothing more.
		// And it runs none of umbra's code on the message: a crash
		// meanwhile counts nothing against it (queue/peerwait.go; rt41
		// F1: a message behind another's slow final reply was parked in
		// the poison queue after two kills).
		lent := queue.WaitingTurn(ctx)
		waited := queue.AwaitingPeer(ctx)
		select {
		case <-free:
		case <-queue.ExpiryReached(ctx):
			waited()
			lent()
			return append(res, expiredUnsent(left)...)
		case <-ctx.Done():
			waited()
			lent()
			return append(res, deferAll(left, hop, mailboxBusyReply)...)
		}
		waited()
		lent()
		rcpts = left
	}
	return res
}

// mailboxBusyReply is the deferral of a recipient whose mailbox was in
// another LMTP transaction of this server until its attempt ended.
const mailboxBusyReply = queue.LMTPMailboxBusy + "(another delivery to it was in progress)"

// turnSessionEndedReply is the deferral of a recipient whose mailbox's
// turn came after its job's LMTP session had ended: it goes again at
// once, on a new session (batchedLeft); the reply stays only when the
// attempt ended first.
const turnSessionEndedReply = queue.LMTPMailboxBusy + "until the LMTP session ended: sent again on a new session"

type turnReportKey struct{}

// withTurnReport gives ctx the function that hands the results of one
// LMTP transaction of a job, ended while others of the job wait for
// their mailbox's turn, to the queue (queue.ReportGroup) — completed
// first as the job's results are (the group's queue and database, the
// server's name as next hop): deliverLocal's.
func withTurnReport(ctx context.Context, f func([]queue.Result)) context.Context {
	return context.WithValue(ctx, turnReportKey{}, f)
}

// reportTurn hands res to ctx's turn report, if any.
func reportTurn(ctx context.Context, res []queue.Result) {
	if f, ok := ctx.Value(turnReportKey{}).(func([]queue.Result)); ok && len(res) > 0 {
		f(res)
	}
}
