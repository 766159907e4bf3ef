package main

import "testing"

// The live heap times (1 + GOGC/100) is where the next collection starts:
// at least the floor while little is alive (within the cap and the steps
// of 50), the default pace once the live heap is half the floor or more,
// so memory never grows by a multiple of a large live heap.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, gcMaxPercent},
		{4 << 20, 700},
		{5 << 20, 500},
		{8 << 20, 300},
		{12 << 20, 150},
		{16 << 20, 100},
		{1 << 30, 100},
	} {
		got := gcPercentFor(c.live)
		if got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
		if c.live > 0 {
			next := c.live * uint64(100+got) / 100
			if next > gcHeapFloor && got != 100 {
				t.Errorf("live %d MiB: the next collection at %d MiB, past the floor", c.live>>20, next>>20)
			}
			if got == 100 && c.live < gcHeapFloor/2 {
				t.Errorf("live %d MiB: default pace below half the floor", c.live>>20)
			}
		}
	}
}
