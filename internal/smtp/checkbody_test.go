package smtp

import (
	"bytes"
	"testing"

	"umbra/internal/queue"
)

// checkBody's one scan also says whether the content is 8-bit (content
// received as BODY=7BIT that has a byte above 127 is kept as 8BITMIME),
// wherever the byte is: the first line, a later one, or after the last
// line end.
func TestCheckBodyEightBit(t *testing.T) {
	for _, tc := range []struct {
		body  string
		eight bool
	}{
		{"Subject: x\r\n\r\nplain\r\n", false},
		{"Subject: caf\xc3\xa9\r\n\r\nplain\r\n", true},
		{"Subject: x\r\n\r\nplain\r\nna\xefve\r\n", true},
		{"Subject: x\r\n\r\nplain\r\nno line end \xff", true},
		{"Subject: x\r\n\r\nno line end at all", false},
	} {
		eight, err := checkBody([]byte(tc.body))
		if err != nil {
			t.Fatalf("%q refused: %v", tc.body, err)
		}
		if eight != tc.eight || eight != queue.Has8bit([]byte(tc.body)) {
			t.Errorf("%q: eight %v, want %v", tc.body, eight, tc.eight)
		}
	}
}

// BenchmarkEndOfDataChecks: the checks an in-memory 100 KiB body gets at
// the end of data (NUL, empty, bare newlines, 8-bit), 7-bit and 8-bit at
// its end, so the whole body is read (issue 15).
func BenchmarkEndOfDataChecks(b *testing.B) {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
	body := []byte("Subject: x\r\n\r\n" + string(bytes.Repeat([]byte(line), 100<<10/len(line))))
	eight := append(append([]byte(nil), body...), "caf\xc3\xa9\r\n"...)
	for _, c := range []struct {
		name string
		b    []byte
	}{{"7bit", body}, {"8bit-at-end", eight}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.b)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := checkBody(c.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
