package panicline

import (
	"strings"
	"testing"
	"time"
)

// One line per Interval, the panics in between counted on the next, the
// stack cut at MaxStack.
func TestGateOneLinePerInterval(t *testing.T) {
	var g Gate
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	attrs, ok := g.Attrs(t0, "boom", []byte(strings.Repeat("x", MaxStack+100)))
	if !ok || len(attrs) != 4 || len(attrs[3].(string)) != MaxStack {
		t.Fatalf("first panic: %v %d", ok, len(attrs))
	}
	for i := 0; i < 3; i++ {
		if _, ok := g.Attrs(t0.Add(time.Duration(i+1)*time.Second), "boom", nil); ok {
			t.Fatalf("panic %d within the interval got a line", i+2)
		}
	}
	attrs, ok = g.Attrs(t0.Add(Interval), "boom", nil)
	if !ok || len(attrs) != 6 || attrs[4] != "suppressed" || attrs[5] != 3 {
		t.Fatalf("the line after the interval: %v %v, want suppressed 3", ok, attrs)
	}
}
