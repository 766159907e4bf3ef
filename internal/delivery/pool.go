package delivery

import (
	"context"
	"strings"
	"sync"
	"time"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

type pooled struct {
	c    *smtp.Client
	used time.Time
	// st: the configuration the session was opened under. Its TLS and
	// login are that configuration's connector's: a session opened
	// before a reload never carries mail under the configuration after
	// it (rr ops39 F1: a connector made tls: required got the next
	// message sent in clear over the session an attempt under way at
	// the reload had opened with tls: none).
	st *state
}

// idleReuse is how long a finished connection waits for the next message
// to the same destination.
const idleReuse = 5 * time.Second

// finishConn keeps a healthy connection, opened under st, for the next
// message to the same destination, or closes it. One opened under a
// configuration no longer in force (an attempt under way at a reload)
// is ended: Reload ended the sessions idle then, and this one is no
// better.
func (d *Deliverer) finishConn(st *state, key string, c *smtp.Client, res []queue.Result) {
	for _, r := range res {
		if r.Outcome == queue.Deferred && (queue.SessionBroke(r.Reply, r.NextHop) || r.Reply == queue.ExpiredUnsentReply) {
			c.Close() // the connection broke, or the message's expiry ended it (transaction)
			return
		}
	}
	if !c.Settle() {
		// A transaction the next hop may still hold open (a refused
		// DATA) that RSET did not end: the next MAIL on this session
		// would be refused as nested (rt43-delivery F1).
		c.Close()
		return
	}
	d.mu.Lock()
	if st != d.st.Load() { // Reload stores its state before it takes the idle sessions (under d.mu)
		d.mu.Unlock()
		go d.endSession(c)
		return
	}
	d.idle[key] = append(d.idle[key], &pooled{c: c, used: time.Now(), st: st})
	d.mu.Unlock()
	time.AfterFunc(idleReuse, func() { d.expireIdle(key) })
}

// putBack returns a session taken from the pool unused (it does not meet
// the message's TLS needs: pooledMeets), with its idle time running on:
// skipping it does not keep it open.
func (d *Deliverer) putBack(key string, pc *pooled) {
	d.mu.Lock()
	if pc.st != d.st.Load() {
		d.mu.Unlock()
		go d.endSession(pc.c)
		return
	}
	d.idle[key] = append([]*pooled{pc}, d.idle[key]...) // the oldest: takeIdle takes the newest first
	d.mu.Unlock()
	time.AfterFunc(idleReuse-time.Since(pc.used), func() { d.expireIdle(key) })
}

// reuse runs a transaction on a pooled connection (Client.Alive found
// it open). ok false: the connection turned out to be gone before the
// next hop had any of the message — a 421 (the server closes, RFC 5321
// §3.8) or a break, before a body was begun (Client.BodiesBegun) — so
// the server took nothing and the caller delivers on a fresh connection
// instead of deferring: whether a close was seen before or after the
// connection left the pool must not decide a message's outcome. A
// transaction that began a body is never repeated here (at least once,
// but not twice on purpose); its results stand.
//
// again is the recipients the next hop answered out of step on it
// before their message went (nextHostFor) while others of the message had results that
// stand (accepted and sent, refused): res leaves them out and the
// caller sends them — them alone — on a fresh connection in the same
// attempt, as a reused session's whole message goes when every
// recipient hit it (rt44 delivery2 F3). Once: a fresh session is never
// reused here.
func (d *Deliverer) reuse(ctx context.Context, st *state, key string, pc *pooled, m *queue.Message, parts [][]byte, rcpts []int, lmtp bool) (res []queue.Result, again []int, ok bool) {
	if reply, err := contentRefusal(ctx, pc.c, pc.c.Hop(), m, parts, rcpts); err == nil && reply != "" {
		// This server does not take the message (eightbit.go); another
		// host of the destination may: the caller's hosts decide, and
		// the session stays for a message it does take.
		d.finishConn(pc.st, key, pc.c, nil)
		return nil, nil, false
	}
	before := pc.c.BodiesBegun()
	res = d.transaction(ctx, st, pc.c, pc.c.Hop(), m, parts, rcpts, lmtp)
	if pc.c.BodiesBegun() == before && ctx.Err() == nil && (sessionGone(res) || wentOutOfStep(res)) {
		pc.c.Close()
		return nil, nil, false
	}
	d.finishConn(pc.st, key, pc.c, res)
	if ctx.Err() != nil {
		return res, nil, true
	}
	// A body was begun on the session: only the recipients answered out
	// of step before their message went go again (nextHostFor).
	kept, again, _ := nextHostFor(res, false)
	if len(again) == 0 {
		return res, nil, true
	}
	return kept, again, true
}

// sessionGone reports whether every result of a transaction is the end
// of the session: a 421 or a broken connection (451 4.4.2).
func sessionGone(res []queue.Result) bool {
	for _, r := range res {
		if r.Outcome != queue.Deferred || !(strings.HasPrefix(r.Reply, "421") || queue.SessionBroke(r.Reply, r.NextHop)) {
			return false
		}
	}
	return len(res) > 0
}

// wentOutOfStep reports whether the next hop answered a command of a
// transaction out of step (queue.AnsweredOutOfStep: the out-of-step
// rule, transaction.go). A stray reply (queue.IsStray: a 3xx to MAIL
// or RCPT) is not read here: it ends the transaction for every
// recipient not yet answered, in words that say the session broke, so
// sessionGone takes a reused session's message to a fresh connection
// when nothing else was answered on it
// (TestSMTP1StrayOnReusedSessionRetriedFresh). On a reused session the message before's
// transaction was left open there: every reply of this one is suspect,
// the ones given before the reply out of step too (a 450 to another
// recipient's RCPT), and with no body begun the message goes on a fresh
// connection whole (reuse), as when every recipient was answered so
// (rrdeliv44).
func wentOutOfStep(res []queue.Result) bool {
	for _, r := range res {
		if r.Outcome == queue.Deferred && queue.AnsweredOutOfStep(r.Reply, r.NextHop) {
			return true
		}
	}
	return false
}

// takeIdle takes the newest idle session to key opened under st, the
// configuration of the attempt; a stale one, or one of another
// configuration, is ended.
func (d *Deliverer) takeIdle(key string, st *state) *pooled {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.idle[key]
	for len(l) > 0 {
		pc := l[len(l)-1]
		l = l[:len(l)-1]
		d.idle[key] = l
		if time.Since(pc.used) < idleReuse && pc.st == st {
			return pc
		}
		go d.endSession(pc.c)
	}
	return nil
}

func (d *Deliverer) expireIdle(key string) {
	d.mu.Lock()
	var keep []*pooled
	var stale []*pooled
	for _, pc := range d.idle[key] {
		if time.Since(pc.used) >= idleReuse {
			stale = append(stale, pc)
		} else {
			keep = append(keep, pc)
		}
	}
	d.idle[key] = keep
	d.mu.Unlock()
	for _, pc := range stale {
		d.endSession(pc.c)
	}
}

// Close ends every pooled connection, in parallel (each asks for its
// discards first), waiting at most closeWait: a hung primary must not
// hold up a shutdown.
func (d *Deliverer) Close() {
	d.mu.Lock()
	idle := d.idle
	d.idle = map[string][]*pooled{}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range idle {
		for _, pc := range l {
			wg.Add(1)
			go func() { defer wg.Done(); d.endSession(pc.c) }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// closeWait bounds Close.
const closeWait = 10 * time.Second

// stand adds res, the results that stand of a session the attempt
// leaves for another with the rest of its recipients (a fresh
// connection after a reused one answered them out of step, the next
// host or server after a fresh one did, the next host for the
// recipients that need SMTPUTF8), to the attempt's (taken), and hands
// them to the queue now (reportTurn), committed before the next session
// opens — as a round of "too many recipients" is before the next round
// (reportRound): a crash while the next host holds its greeting must
// not leave recipients accepted and sent on this session pending on
// disk, to be sent to it again at the next start.
func stand(ctx context.Context, taken *[]queue.Result, res []queue.Result) {
	*taken = append(*taken, res...)
	reportTurn(ctx, res)
}

// nextHostFor splits a fresh session's results: left, the deferrals of
// recipients the host answered out of step before their message went to
// it (steppedUnsent: at MAIL, RCPT or DATA, not an LMTP server's 503 to
// the end of the message), or whose session ended
// while no body was begun (endedUnsent: a stray reply, a 421, a break —
// after a body, the host may hold the message), whose recipients
// (again) the caller tries at the next host, as after a connect failure;
// kept, the others' results, which stand.
func nextHostFor(res []queue.Result, noBody bool) (kept []queue.Result, again []int, left []queue.Result) {
	for _, r := range res {
		if r.Outcome == queue.Deferred && (steppedUnsent(r) || noBody && endedUnsent(r)) {
			again = append(again, r.Rcpt)
			left = append(left, r)
			continue
		}
		kept = append(kept, r)
	}
	return kept, again, left
}

// steppedUnsent reports whether r is a deferral out of step at MAIL,
// RCPT or DATA (queue.IsOutOfStep), before its message went to the
// host — not an LMTP server's 503 to the end of the message
// (queue.OutOfStepAfterBody): that recipient's message went, and a
// server whose replies slipped may hold it; the retry schedule takes it.
func steppedUnsent(r queue.Result) bool {
	return queue.IsOutOfStep(r.Reply, r.NextHop) && !queue.OutOfStepAfterBody(r.Reply, r.NextHop)
}

// endedUnsent reports whether r is a deferral by the end of its session
// (the host's 421, RFC 5321 §3.8; a stray reply; a broken connection:
// queue.SessionBroke) — read only where no body was begun on it, so the
// host has nothing of the message.
func endedUnsent(r queue.Result) bool {
	return queue.HostClosed(r.Reply) || queue.SessionBroke(r.Reply, r.NextHop)
}
