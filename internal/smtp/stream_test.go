package smtp

import (
	"bytes"
	"math/rand"
	"testing"
	"testing/iotest"
)

// stuffReader sends what AppendDotStuffed makes of the whole message,
// whatever the piece size and however the reader splits its reads: a
// CRLF, a dot at a line start or a bare CR on a piece boundary included.
func checkStuffReader(t *testing.T, parts [][]byte, tail []byte, chunk int) {
	t.Helper()
	want := AppendDotStuffed(nil, append(bytes.Join(parts, nil), tail...))
	for _, half := range []bool{false, true} {
		var r = bytes.NewReader(tail)
		var got []byte
		var src = iotestReader(r, half)
		if err := stuffBody(parts, src, chunk, func(b []byte) error { got = append(got, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("parts %q tail %q chunk %d half %v:\n got %q\nwant %q", parts, tail, chunk, half, got, want)
		}
	}
}

func iotestReader(r *bytes.Reader, half bool) interface{ Read([]byte) (int, error) } {
	if half {
		return iotest.HalfReader(r)
	}
	return r
}

func TestStuffReaderMatchesWhole(t *testing.T) {
	bodies := [][]byte{nil, []byte("a"), []byte("."), []byte("\r"), []byte("\r\n"), []byte(".\r\n.."),
		[]byte("x\r\n.\r\n.y\rz\n.w\r\r\n"), []byte("no end"), []byte("a\r\n\r\n.\r\n")}
	rnd := rand.New(rand.NewSource(1))
	alphabet := []byte("a.\r\n")
	for i := 0; i < 300; i++ {
		b := make([]byte, rnd.Intn(200))
		for k := range b {
			b[k] = alphabet[rnd.Intn(len(alphabet))]
		}
		bodies = append(bodies, b)
	}
	for _, b := range bodies {
		for _, chunk := range []int{1, 2, 3, 5, 8, 64, 1 << 16} {
			checkStuffReader(t, nil, b, chunk)
			checkStuffReader(t, [][]byte{[]byte("X-Org: 1\r\n")}, b, chunk)
		}
	}
}

func FuzzStuffReader(f *testing.F) {
	f.Add([]byte("a\r\n.b\r\n"), 3)
	f.Add([]byte(".\r"), 1)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk < 1 || chunk > 1<<16 {
			chunk = 1 + (chunk&0xff+256)%256
		}
		checkStuffReader(t, nil, b, chunk)
	})
}

// A streamed message is accepted by Postfix's smtp-sink in lock step
// (SendDataStream) and pipelined (PipelineStream): its end marker and
// dot-stuffing frame it as the server expects.
func TestStreamAgainstSmtpSink(t *testing.T) {
	var big bytes.Buffer
	big.WriteString("Subject: streamed\r\n\r\n")
	for big.Len() < 2<<20 {
		big.WriteString(".dot\r\nline of a streamed message\r\n")
	}
	parts := [][]byte{[]byte("X-Org: 1\r\n")}
	rcpts := []Recipient{{Addr: "a@example.net"}}

	c, _ := logClient(t, startSmtpSink(t, "-p"))
	if err := c.Mail("s@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := c.SendDataStream(parts, bytes.NewReader(big.Bytes()), 1); err != nil || len(r) != 1 || r[0].Err != nil {
		t.Fatalf("lock-step streamed DATA: %+v %v", r, err)
	}

	c, _ = logClient(t, startSmtpSink(t))
	p := c.PipelineStream("s@example.org", nil, rcpts, parts, bytes.NewReader(big.Bytes()), false)
	if p.Err != nil || p.Mail != nil || p.Data != nil || len(p.Final) != 1 || p.Final[0].Err != nil {
		t.Fatalf("pipelined streamed DATA: %+v", p)
	}
}
