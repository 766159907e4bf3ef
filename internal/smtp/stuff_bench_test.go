package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// BenchmarkStuffParts: the DATA payload of a message as delivery sends
// it (a trace field part, then the stored body) written through the
// body writer, for a body as smtp-source makes it (no dot lines, CRLF)
// and one with a dot-started line in every hundred.
func BenchmarkStuffParts(b *testing.B) {
	head := []byte("Received: from vm ([127.0.0.1])\r\n\tby hub.bench.test (umbra) with ESMTP id 000661923FFF7196;\r\n\tTue, 1 Dec 2026 13:10:27 +0000\r\n")
	line := strings.Repeat("X", 78) + "\r\n"
	for _, c := range []struct {
		name string
		dots bool
	}{{"plain", false}, {"dots", true}} {
		var body bytes.Buffer
		body.WriteString("From: <a@example.org>\r\nTo: <b@remote.example>\r\nSubject: bench\r\n\r\n")
		for i := 0; body.Len() < 100<<10; i++ {
			if c.dots && i%100 == 0 {
				body.WriteString(".")
			}
			body.WriteString(line)
		}
		parts := [][]byte{head, body.Bytes()}
		b.Run("size=100KiB/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(head) + body.Len()))
			b.ReportAllocs()
			bw := bufio.NewWriterSize(io.Discard, dataChunk)
			emit := func(p []byte) error { _, err := bw.Write(p); return err }
			for b.Loop() {
				if err := stuffParts(parts, dataChunk, emit); err != nil {
					b.Fatal(err)
				}
				bw.Flush()
			}
		})
	}
}
