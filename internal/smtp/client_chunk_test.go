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

// FuzzStuffParts: a message in parts (cut after line feeds, as the
// organisation id line and a stored body are) is sent exactly as the
// joined message, whether a part goes out as it is (asSent) or is
// stuffed; and a part asSent passes is its own payload.
func FuzzStuffParts(f *testing.F) {
	for _, s := range []string{"", "a\r\nb\r\n", "X: 1\r\n\r\nbody\r\nno end", ".a\r\n", "a\r\n.b\r\n", "a\nb\r\n", "a\rb\r\n",
		"Received: x\r\n\r\nline\r\nline\r\n", "a\r\n\r\n", "\r\n.", "a\r", "\n"} {
		f.Add([]byte(s), []byte{3, 9}, uint8(4))
	}
	f.Fuzz(func(t *testing.T, b, cuts []byte, chunk uint8) {
		var parts [][]byte
		rest := b
		for _, c := range cuts {
			i := bytes.IndexByte(rest[min(int(c), len(rest)):], '\n')
			if i < 0 {
				break
			}
			i += min(int(c), len(rest)) + 1
			parts, rest = append(parts, rest[:i]), rest[i:]
		}
		parts = append(parts, rest)
		want := AppendDotStuffed(nil, b)
		var got []byte
		if err := stuffParts(parts, int(chunk)+1, func(p []byte) error { got = append(got, p...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("parts %q chunk %d:\n got %q\nwant %q", parts, int(chunk)+1, got, want)
		}
		if asSent(b) {
			if pay, _ := appendStuffed(nil, b, true); !bytes.Equal(pay, b) {
				t.Fatalf("asSent(%q), but stuffed it is %q", b, pay)
			}
		}
	})
}
