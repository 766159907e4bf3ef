package smtp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestStuffChunksMatchesWhole: SendData's payload, dot-stuffed a piece
// at a time with a bounded buffer, is byte for byte the whole body's
// (dots at line starts, bare CR and LF, a missing final CRLF, lines
// longer than a piece, pieces cut anywhere).
func TestStuffChunksMatchesWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(".\r\nab")
	bodies := [][]byte{nil, []byte("."), []byte("\r\n"), []byte(".\r\n.\r\n"), []byte("a\rb\nc"), []byte("no newline at all")}
	for range 2000 {
		b := make([]byte, r.IntN(200))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		bodies = append(bodies, b)
	}
	for _, body := range bodies {
		want := AppendDotStuffed(nil, body)
		for _, chunk := range []int{1, 2, 3, 7, 64, 1 << 16} {
			var got []byte
			if err := stuffChunks(body, chunk, func(b []byte) error { got = append(got, b...); return nil }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("chunk %d, body %q:\n got %q\nwant %q", chunk, body, got, want)
			}
		}
	}
}
