package smtp

import (
	"errors"
	"sync/atomic"

	gosmtp "github.com/emersion/go-smtp"
)

// The bytes of bodies held in memory on receipt are capped across every
// session of the server (transport.body_memory_limit): each session's
// body buffer (bodySink.mem, up to spool_threshold, or the whole body on
// a session that cannot spool) is reserved from one budget before it is
// allocated or grown, and given back when the buffer is let go (spooled,
// copied out, dropped). A session whose buffer the budget cannot cover
// goes on in a spool file at once, so the message is accepted as any
// other spooled one; a session that cannot spool (no spool directory, or
// checks that need the body in memory) reads on keeping nothing and gets
// 452 4.3.1 at the end of its data, the client retrying later. So the
// memory of bodies in flight is at most the limit, plus each session's
// header section (max_header_size) and spool write buffer (64 KiB),
// however many sessions send however large messages.

// memBudget is the server's budget of in-memory body bytes; nil: none.
type memBudget struct {
	limit   int64
	used    atomic.Int64
	spilled atomic.Uint64 // bodies that went to a spool file early
	refused atomic.Uint64 // bodies refused (452 4.3.1): no spool file
}

func newMemBudget(limit int64) *memBudget {
	if limit <= 0 {
		return nil
	}
	return &memBudget{limit: limit}
}

// take reserves n bytes, or nothing when they do not fit.
func (b *memBudget) take(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *memBudget) give(n int64) {
	if b != nil && n > 0 {
		b.used.Add(-n)
	}
}

// errBodyMemory: a body the session could neither keep in memory within
// the budget nor spool.
var errBodyMemory = errors.New("the in-memory body budget is spent and the body cannot be spooled")

var replyBodyMemory = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1},
	Message: "Insufficient system resources for the message now, try again later"}

// hold makes the sink's reservation cover a buffer of c bytes: more is
// taken from the budget (false when it does not fit; the reservation is
// then unchanged), less given back.
func (k *bodySink) hold(c int) bool {
	d := int64(c) - k.held
	if d > 0 && !k.budget.take(d) {
		return false
	}
	if d < 0 {
		k.budget.give(-d)
	}
	k.held = int64(c)
	return true
}

// BodyMemory reports the in-memory body budget: the bytes reserved now,
// the limit (0: none), and how many bodies went to a spool file early
// or were refused for it since the start.
func (s *Server) BodyMemory() (used, limit int64, spilled, refused uint64) {
	b := s.bodyMem
	if b == nil {
		return 0, 0, 0, 0
	}
	return b.used.Load(), b.limit, b.spilled.Load(), b.refused.Load()
}

// reserveBody is Transaction.ReserveBody: the session's reservation for
// bodies its checks build (checkHeld) grows to n when n is more; the
// transaction's end (data) gives it back (releaseCheckBody).
func (s *session) reserveBody(n int64) bool {
	d := n - s.checkHeld
	if d <= 0 {
		return true
	}
	if !s.srv.bodyMem.take(d) {
		// Counted as refused only when the check answers 452 4.3.1 for
		// it (applyVerdict): it may fail the message otherwise first.
		return false
	}
	s.checkHeld = n
	return true
}

// releaseCheckBody gives back what the transaction's checks reserved.
func (s *session) releaseCheckBody() {
	s.srv.bodyMem.give(s.checkHeld)
	s.checkHeld = 0
}
