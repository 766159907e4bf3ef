package smtp

import (
	"time"
)

// rateBudget is min_data_rate: a body (a DATA body from its 354, a BDAT transfer from its first
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
	v.bodyWall, v.bodyClk = v.lastRead, v.clk.Now()
}

// dataTooLong: the body's whole transfer has taken longer than
// max_data_time on the session clock (transport servers exempt), however
// steadily it came: a client keeping just above min_data_rate cannot
// hold a session for max_message_size/min_data_rate.
func (v *verbConn) dataTooLong(now time.Time) bool {
	return v.maxData > 0 && !v.bodyClk.IsZero() && now.Sub(v.bodyClk) > v.maxData && !v.exempt()
}

// creditRate records n body bytes just read; false when they came after
// the body's deadline on the session clock (the caller ends the session
// with replyDataRate).
func (v *verbConn) creditRate(n int64) bool {
	now := v.clk.Now()
	if v.dataTooLong(now) {
		return false
	}
	if v.idle <= 0 {
		return true
	}
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
	if v.dataTooLong(v.clk.Now()) {
		v.limitHit(RejectDataTime, replyDataTime)
		return v.hangUp(replyDataTime)
	}
	v.limitHit(RejectDataRate, replyDataRate)
	return v.hangUp(replyDataRate)
}

// timeoutReply is the reply to a read that timed out: inside a body a
// client that sent data within idle_timeout was not idle, it was too
// slow.
func (v *verbConn) timeoutReply() string {
	inBody := v.mode == modeData || v.bdat || v.inChunk
	if inBody && v.maxData > 0 && !v.exempt() && time.Since(v.bodyWall) >= v.maxData {
		return replyDataTime
	}
	if inBody && v.idle > 0 && time.Since(v.lastRead) < v.idle {
		return replyDataRate
	}
	if !inBody && v.partialLine {
		return replyLineTimeout
	}
	return replyIdleTimeout
}
