package smtp

import (
	"fmt"
	"log/slog"
	"strings"

	"umbra/internal/clock"
	"umbra/internal/panicline"
)

// PanicObserver is told about each receive session that panicked (a
// panic go-smtp recovered: the client got 421 4.0.0 and the session
// ended). An Observer that also implements it gets the calls.
type PanicObserver interface {
	SessionPanic(connector string)
}

// panicLog writes the log lines of the panics of receive sessions: those
// go-smtp recovers in a command, and those the verb layer recovers in
// what it runs itself (verbConn.panicked; outside go-smtp's recover such
// a panic ended the daemon). go-smtp writes 421 4.0.0, closes the connection and
// hands its ErrorLog "panic serving <addr>: <value>\n<stack>"; written
// as given, each connection that made a session panic wrote a stack of
// ~1.5 KiB at WARN (rt26b F1: 20 connections, 20 stacks), so a client
// that found a way to make one panic could fill the disk. Here every
// panic is counted (PanicObserver), and one line per panicline.Interval
// is written at ERROR with the client, the panic's value and its stack
// (cut at panicline.MaxStack); the next line says how many were left out
// (suppressed=N). The session's own state needs nothing here: go-smtp
// closes the connection (Session.Logout), the verb layer then hands
// go-smtp nothing more and drops a body it held (verbConn.endStream),
// and a transaction cut inside Data removes its spool file (the
// deferred abort in session.data) — nothing is acknowledged, no file
// is left behind.
type panicLog struct {
	clk  clock.Clock
	obs  Observer
	gate panicline.Gate // one line per interval, server-wide
}

func newPanicLog(clk clock.Clock, obs Observer) *panicLog {
	return &panicLog{clk: clk, obs: obs}
}

// panicked counts a recovered panic of a session on connector and logs
// it unless a line was written less than panicline.Interval ago.
func (p *panicLog) panicked(l *slog.Logger, connector, client string, value any, stack []byte) {
	if po, ok := p.obs.(PanicObserver); ok {
		po.SessionPanic(connector)
	}
	attrs, ok := p.gate.Attrs(p.clk.Now(), value, stack)
	if !ok {
		return
	}
	// The reply the session ended with (go-smtp's recover and the verb
	// layer's both write it), named as every other end's (front38 F3).
	attrs = append([]any{"client", client, "code", 421, "enhanced_code", "4.0.0"}, attrs...)
	l.Error("session panicked", attrs...)
}

// slogPrinter adapts go-smtp's Printf logger (its ErrorLog) to slog: a
// recovered panic goes to the panic log; anything else is written at
// WARN (go-smtp's other lines — a read error ending a session — never
// reach it: the verb layer ends a session that lost its client with the
// end of the stream, readError).
type slogPrinter struct {
	l         *slog.Logger
	connector string
	panics    *panicLog
}

func (p slogPrinter) Printf(format string, v ...any) {
	if p.panics != nil && strings.HasPrefix(format, "panic serving ") && len(v) == 3 {
		stack, _ := v[2].([]byte)
		p.panics.panicked(p.l, p.connector, fmt.Sprint(v[0]), v[1], stack)
		return
	}
	p.l.Warn(fmt.Sprintf(format, v...))
}

func (p slogPrinter) Println(v ...any) { p.l.Warn(fmt.Sprint(v...)) }
