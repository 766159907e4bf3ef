package delivery

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"umbra/internal/panicline"
	"umbra/internal/queue"
)

// What a panic in an outbound attempt does (a defect of umbra's, never
// of the next hop). A receive session's panic ends that session
// (package smtp, paniclog.go); outbound, a panic recovered here ends
// only what it was doing:
//   - a group of a delivery (Deliver: the group's transaction, on the
//     job's goroutine or on one of its own when a job has several
//     groups): its recipients are Deferred with queue.PanicReply —
//     tried again at their next retry, never marked delivered or
//     failed (a next hop that took the message before the panic gets it
//     again: at least once), and no feedback to the destination's window;
//   - a heartbeat, a watch session, a reconciliation, a callout, a push
//     of owed discards at a stop: ends with an error, as a broken
//     session does; a shadow session's error is a shadow.LocalFault
//     (recoverErr), which counts no failed heartbeat and marks the
//     primary neither unreachable nor failing.
//   - the goroutine that cuts a transaction at its message's expiry
//     (transaction.go): the cut is not made, the transaction ends as its
//     session does (the checks before DATA and before the body still
//     find the expiry), counted under delivery;
//   - the end of an idle session of copies on receipt (its QUIT or its
//     close, on a goroutine of its own: ReceiptShadow.endApart): the
//     connection is closed, counted under shadow;
//   - a probe of a holder (ReceiptShadow.Probe, on a goroutine of
//     shadow.Holders at a start or after a stall): ends with a
//     shadow.LocalFault error, counted under shadow.
// (The goroutine that ends a session's opening at the expiry,
// expiryopen.go, only selects and cancels a context: nothing there can
// panic.)
// Each is counted (PanicObserver: umbra_delivery_panics_total{part})
// and logged at ERROR as "delivery panicked" with the part, the
// message or peer, the panic and its stack (cut at panicline.MaxStack)
// at most once per panicline.Interval, the next line saying how many were
// left out (suppressed=N). A connection the panic left in use is
// closed: by the transaction's recover inside it, by the group's
// attempt's (inHand: deliverRemote, deliverOrg) around it — a pooled
// session's checks, the content and REQUIRETLS checks, the shadow
// session's opening, the self-relay check, the relay's storage note
// before finishConn.

// PanicObserver counts recovered panics of outbound work by part
// ("delivery", "shadow", "verify", "push": a bounded set).
type PanicObserver interface {
	DeliveryPanic(part string)
}

// Parts of outbound work a recovered panic is counted under.
const (
	PanicDelivery = "delivery" // a message's group (Deliver)
	PanicShadow   = "shadow"   // a heartbeat, watch or reconcile session
	PanicVerify   = "verify"   // a callout (Verify)
	PanicPush     = "push"     // owed discards pushed at a stop
)

// panicHook, set by a test only, is called at the start of work of a
// part run on a goroutine of its own (the expiry's cut of a
// transaction, the end of an idle session of copies on receipt), which
// it may make panic. nil in umbra.
var panicHook atomic.Pointer[func(part string)]

// mayPanic calls panicHook for part.
func mayPanic(part string) {
	if f := panicHook.Load(); f != nil {
		(*f)(part)
	}
}

// PanicParts are the values of the part label.
var PanicParts = []string{PanicDelivery, PanicShadow, PanicVerify, PanicPush}

// SetPanics sets the observer of recovered panics, before the first
// delivery.
func (d *Deliverer) SetPanics(o PanicObserver) { d.panics.obs = o }

// panicLog counts and logs recovered panics (see above).
type panicLog struct {
	obs  PanicObserver
	gate panicline.Gate // one line per interval, deliverer-wide
}

// recovered counts and logs the panic value r of part; attrs name
// what it was about (msg_id, next_hop, primary).
func (d *Deliverer) recovered(part string, r any, attrs ...any) {
	stack := debug.Stack()
	p := &d.panics
	if p.obs != nil {
		p.obs.DeliveryPanic(part)
	}
	attrs = append(attrs, "part", part)
	line, ok := p.gate.Attrs(time.Now(), r, stack)
	if !ok {
		return
	}
	attrs = append(attrs, line...)
	log := d.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Error("delivery panicked", attrs...)
}

// recoverErr, deferred by an entry point that returns an error (a
// heartbeat, a watch or reconcile session), turns a panic into that
// error: the session ends as a broken one does. The error is a
// shadow.LocalFault: a fault of this server's says nothing of the
// primary, so it counts no failed heartbeat (a takeover of a live
// primary's copies, a second delivery) and marks it neither
// unreachable nor failing.
func (d *Deliverer) recoverErr(part string, err *error, attrs ...any) {
	if r := recover(); r != nil {
		d.recovered(part, r, attrs...)
		*err = panicError{r}
	}
}

// panicError is a recovered panic as a session's error.
type panicError struct{ r any }

func (e panicError) Error() string { return fmt.Sprintf("internal error (recovered panic): %v", e.r) }

// LocalFault marks it as shadow.LocalFault.
func (panicError) LocalFault() {}

// recoverLogged, deferred by work that returns nothing (a push at a
// stop), ends it at a panic.
func (d *Deliverer) recoverLogged(part string, attrs ...any) {
	if r := recover(); r != nil {
		d.recovered(part, r, attrs...)
	}
}

// panicResults are the results of a group whose delivery panicked:
// every recipient deferred with queue.PanicReply.
func panicResults(rcpts []int) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = queue.Result{Rcpt: i, Outcome: queue.Deferred, Reply: queue.PanicReply}
	}
	return out
}
