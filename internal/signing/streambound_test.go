package signing

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repeatReader is s repeated until n bytes, then tail: a large body the
// test does not hold.
type repeatReader struct {
	s    string
	n    int
	tail string
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	k := 0
	for k < len(p) {
		switch {
		case r.off < r.n:
			c := copy(p[k:], r.s[r.off%len(r.s):])
			c = min(c, r.n-r.off)
			k, r.off = k+c, r.off+c
		case r.off < r.n+len(r.tail):
			c := copy(p[k:], r.tail[r.off-r.n:])
			k, r.off = k+c, r.off+c
		default:
			if k == 0 {
				return 0, io.EOF
			}
			return k, nil
		}
	}
	return k, nil
}

// TestSignOriginStreamBoundedOnEmptyLines: a spooled body that is a long
// run of empty lines (which the relaxed body form drops only at the end)
// is signed in bounded memory — the DKIM library's canonicaliser held
// the whole run, 68 MiB of heap for 25 MiB — and the signature made
// streaming is the one made in memory, and verifies.
func TestSignOriginStreamBoundedOnEmptyLines(t *testing.T) {
	ed := testEd25519(t)
	z := zone{}
	z.add(t, "example.org", "ed1", ed)
	clock := func() time.Time { return time.Unix(1796000000, 0) }
	newSigner := func() *Signer {
		s, err := NewSigner(Options{Now: clock, Keys: []Key{{Domain: "example.org", Selector: "ed1", Signer: ed}}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hdr := "From: Alice <alice@example.org>\r\nTo: bob@example.test\r\nSubject: blank\r\n\r\n"

	// Equal to the in-memory signature, and verifies, on a body small
	// enough to hold.
	for _, tail := range []string{"content after the run\r\n", ""} {
		msg := hdr + strings.Repeat("\r\n", 100<<10) + tail
		prefix, res, err := newSigner().SignOriginStream([]byte(hdr), strings.NewReader(msg), "", true)
		if err != nil || res.DKIM != "example.org" {
			t.Fatalf("stream sign: %v %+v", err, res)
		}
		whole, _, err := newSigner().SignOrigin([]byte(msg), "", true)
		if err != nil || !bytes.Equal(whole, append(append([]byte(nil), prefix...), msg...)) {
			t.Fatalf("streamed fields differ from the in-memory ones (%v):\n%s\n--\n%s", err, prefix, whole[:len(whole)-len(msg)])
		}
		if ok, failed := verify(t, z, whole); len(ok) != 1 || len(failed) != 0 {
			t.Fatalf("tail %q: ok %v failed %v", tail, ok, failed)
		}
	}

	// 16 MiB of empty lines, then content: what signing allocates.
	const run = 16 << 20
	s := newSigner()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, res, err := s.SignOriginStream([]byte(hdr), io.MultiReader(strings.NewReader(hdr),
		&repeatReader{s: "\r\n", n: run, tail: "end\r\n"}), "", true)
	runtime.ReadMemStats(&after)
	if err != nil || res.DKIM != "example.org" {
		t.Fatalf("stream sign: %v %+v", err, res)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > run/8 {
		t.Fatalf("signing %d bytes of empty lines allocated %d bytes", run, alloc)
	}
}
