package panicline

import (
	"fmt"
	"sync"
	"time"
)

const (
	// Interval is the least time between two lines of one Gate.
	Interval = time.Minute
	// MaxStack bounds the stack a line carries.
	MaxStack = 8 << 10
)

// Gate decides which recovered panics get a log line. The zero value
// is ready.
type Gate struct {
	mu         sync.Mutex
	last       time.Time // when a line was last written (zero: never)
	suppressed int
}

// Attrs returns the attributes of the line to write for a panic of
// value with stack at now ("panic", "stack" cut at MaxStack, and
// "suppressed" when panics were left out since the last line), or ok
// false when a line was written less than Interval ago: the panic is
// counted for the next line.
func (g *Gate) Attrs(now time.Time, value any, stack []byte) (attrs []any, ok bool) {
	suppressed, ok := g.Due(now)
	if !ok {
		return nil, false
	}
	if len(stack) > MaxStack {
		stack = stack[:MaxStack]
	}
	attrs = []any{"panic", fmt.Sprint(value), "stack", string(stack)}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	return attrs, true
}

// Due is the Gate's rule for any line a loop may repeat (a stall of the
// process, a store failing at every pass): it reports whether the line
// of an event at now is due — none written less than Interval ago — and
// how many events were left out since the last line written; ok false
// counts this one for the next line.
func (g *Gate) Due(now time.Time) (suppressed int, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() && now.Sub(g.last) < Interval {
		g.suppressed++
		return 0, false
	}
	g.last = now
	suppressed = g.suppressed
	g.suppressed = 0
	return suppressed, true
}
