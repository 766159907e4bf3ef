package smtp

import (
	"bytes"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// cuts splits b at the offsets the fuzzer chose (each byte of cut is a
// piece length, 0 meaning 1).
func cuts(b, cut []byte) [][]byte {
	var out [][]byte
	for i := 0; len(b) > 0; i++ {
		n := len(b)
		if len(cut) > 0 {
			n = min(len(b), int(cut[i%len(cut)])+1)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// FuzzUnstuffStream: the streaming unstuffer, fed a DATA body in pieces
// cut anywhere, emits byte for byte what unstuffData makes of the whole,
// and stops where it stops (the first CRLF "." CRLF).
func FuzzUnstuffStream(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "..\r\n.x\r\n", ".\r\n", "a\r\n.\r", "\r\n.\r\r\n", ".\r.\n\r\n..\r\n", "a\n.\r\nb"} {
		f.Add([]byte(s), []byte{0, 1, 2})
	}
	f.Fuzz(func(t *testing.T, b, cut []byte) {
		raw := append(bytes.Clone(b), "\r\n.\r\n"...)
		want := unstuffData(nil, raw)
		var u unstuffer
		var got []byte
		for _, p := range cuts(raw, cut) {
			u.feed(p, func(q []byte) { got = append(got, q...) })
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q cut %v: streamed %q, whole %q", raw, cut, got, want)
		}
		if !u.done {
			t.Fatalf("%q: the end marker was not seen", raw)
		}
	})
}

// FuzzBodySink: a body through the sink, cut anywhere, with a threshold
// that sends it to a spool file, counts NUL, emptiness and the first
// bare newline as checkBody decides them on the whole, writes the file
// as the in-memory path would store it (normalised with bare_newlines:
// normalize), and keeps its header section.
func FuzzBodySink(f *testing.F) {
	for _, s := range []string{"", "a", "Subject: x\r\n\r\nbody\r\n", "a\rb\nc\r", "\r\n\r\n", " \t\u00a0\u3000", "\xe3\x80", "\x00", "X: y\r\n z\r\n\r\n\r\n",
		"X: y\r\nnot a field\r\nZ: w\r\n", " blank\r\n", "X: " + strings.Repeat("y", 70) + "\r\nno", "X: y\r\n\r", "Name\t : v\r\nname\r\n"} {
		f.Add([]byte(s), []byte{0, 3, 1}, false, uint8(0))
		f.Add([]byte(s), []byte{7}, true, uint8(2))
	}
	for _, s := range []string{"a\n.\nb\r\n", "a\r.\r..c\n.", "a\r", ".\n.\r\n.\r.", "x\n..\n.\n"} {
		f.Add([]byte(s), []byte{1, 2}, true, uint8(10))
		f.Add([]byte(s), []byte{0, 1, 1, 1}, true, uint8(9))
	}
	st, _ := spoolStore(f)
	f.Fuzz(func(t *testing.T, b, cut []byte, normalize bool, threshold uint8) {
		maxHead := 64
		dotted := normalize && threshold&8 != 0 // a DATA body (normalizeNewlines)
		k := bodySink{threshold: int64(threshold) % 8, maxHead: maxHead, newSpool: st.NewSpool, normalize: normalize, dotted: dotted}
		for _, p := range cuts(b, cut) {
			k.write(p)
		}
		mem, sp, err := k.finish()
		if err != nil {
			t.Fatal(err)
		}
		if sp == nil {
			if !bytes.Equal(mem, b) {
				t.Fatalf("in memory %q, want %q", mem, b)
			}
			return
		}
		defer sp.file.Abort()
		body, err := sp.file.Finish()
		if err != nil {
			t.Fatal(err)
		}
		got, err := body.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		want := b
		if normalize && bareNewline(b) != 0 {
			want = normalizeNewlines(nil, b, dotted)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: file %q, want %q", b, got, want)
		}
		s := &sp.stats
		if s.nul != (bytes.IndexByte(b, 0) >= 0) || s.empty() != emptyMessage(b) || s.end() != bareNewline(b) || s.eight != queue.Has8bit(b) || s.n != int64(len(b)) {
			t.Fatalf("%q: stats nul %v empty %v bare %q n %d", b, s.nul, s.empty(), s.end(), s.n)
		}
		if n := headerSectionLen(want, maxHead); !bytes.Equal(sp.head, want[:n]) {
			t.Fatalf("%q: head %q, header section %d bytes", want, sp.head, n)
		}
		if sp.size != int64(len(want)) {
			t.Fatalf("size %d of %d", sp.size, len(want))
		}
	})
}
