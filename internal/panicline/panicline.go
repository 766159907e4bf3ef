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
	g.mu.Lock()
	if !g.last.IsZero() && now.Sub(g.last) < Interval {
		g.suppressed++
		g.mu.Unlock()
		return nil, false
	}
	g.last = now
	suppressed := g.suppressed
	g.suppressed = 0
	g.mu.Unlock()
	if len(stack) > MaxStack {
		stack = stack[:MaxStack]
	}
	attrs = []any{"panic", fmt.Sprint(value), "stack", string(stack)}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	return attrs, true
}
