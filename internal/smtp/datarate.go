package smtp

import "time"

// rateBudget is min_data_rate as Postfix's smtpd_min_data_rate applies
// it: a body (a DATA body from its 354, a BDAT transfer from its first
// chunk to LAST, commands between chunks included) must arrive by its
// deadline, which starts idle_timeout ahead; each read of n message
// bytes moves it n/min_data_rate seconds on, but never more than
// idle_timeout past the read. So a burst buys at most one idle_timeout:
// a client cannot bank the credit of a fast start and then trickle (an
// average over the whole transfer let 1 MB buy half an hour).
type rateBudget struct {
	deadline time.Time
}

// start opens the budget at now.
func (b *rateBudget) start(now time.Time, idle time.Duration) {
	b.deadline = now.Add(idle)
}

// credit records n message bytes read at now. With no rate (0) every
// read gives a full idle_timeout, as for a command line.
func (b *rateBudget) credit(now time.Time, n int64, rate int64, idle time.Duration) {
	limit := now.Add(idle)
	if rate <= 0 {
		b.deadline = limit
		return
	}
	b.deadline = b.deadline.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
	if b.deadline.After(limit) {
		b.deadline = limit
	}
}

// expired: now is past the deadline.
func (b *rateBudget) expired(now time.Time) bool {
	return now.After(b.deadline)
}

// startRate opens the rate budget of a body on both clocks: the wall
// clock's sets the connection's read deadline, the session clock's is
// checked as data and BDAT commands arrive (the two agree in
// production; tests drive the session clock).
func (v *verbConn) startRate() {
	v.wallRate.start(time.Now(), v.idle)
	v.clkRate.start(v.clk.Now(), v.idle)
	v.lastRead = time.Now()
}

// creditRate records n body bytes just read; false when they came after
// the body's deadline on the session clock (the caller ends the session
// with replyDataRate).
func (v *verbConn) creditRate(n int64) bool {
	if v.idle <= 0 {
		return true
	}
	now := v.clk.Now()
	if v.clkRate.expired(now) {
		return false
	}
	v.clkRate.credit(now, n, v.minRate, v.idle)
	v.lastRead = time.Now()
	v.wallRate.credit(v.lastRead, n, v.minRate, v.idle)
	return true
}

// rateCut ends a session whose body fell behind min_data_rate.
func (v *verbConn) rateCut() error {
	v.limitHit("data rate")
	return v.hangUp(replyDataRate)
}

// timeoutReply is the reply to a read that timed out: inside a body a
// client that sent data within idle_timeout was not idle, it was too
// slow.
func (v *verbConn) timeoutReply() string {
	if (v.mode == modeData || v.bdat || v.inChunk) && v.idle > 0 && time.Since(v.lastRead) < v.idle {
		return replyDataRate
	}
	return replyIdleTimeout
}
