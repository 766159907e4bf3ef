package queue

import (
	"bytes"
	"testing"
)

// Has8bit answers as a byte-by-byte search for a byte above 127 would,
// wherever in the slice (word or tail) the byte falls.
func TestHas8bitEveryPosition(t *testing.T) {
	for n := 0; n <= 40; n++ {
		b := bytes.Repeat([]byte{'a'}, n)
		if Has8bit(b) {
			t.Fatalf("%d ASCII bytes taken as 8-bit", n)
		}
		for i := 0; i < n; i++ {
			for _, c := range []byte{0x80, 0xC3, 0xFF} {
				b[i] = c
				if !Has8bit(b) {
					t.Fatalf("byte %#x at %d of %d not seen", c, i, n)
				}
				if !Has8bit(b[i:]) || Has8bit(b[:i]) {
					t.Fatalf("sub-slices around %d of %d misjudged", i, n)
				}
				b[i] = 0x7F
				if Has8bit(b) {
					t.Fatalf("0x7f at %d of %d taken as 8-bit", i, n)
				}
				b[i] = 'a'
			}
		}
	}
}
