package milter

import (
	"strings"
	"testing"
)

// BenchmarkMilterMessage is what a milter costs one message, over
// loopback TCP against an independent milter implementation that
// continues at every stage and accepts at end of message: sessions of
// ten messages each, so a message pays for its own milter connection
// (dial, negotiation, the connect and HELO events again, QUIT and the
// wait for the milter's close). Reported as ms/msg.
func BenchmarkMilterMessage(b *testing.B) {
	q := &fakeQueue{}
	s := startMTA(b, q, milterConf(startMilter(b, &script{}), ""))
	b.ResetTimer()
	for i := 0; i < b.N; {
		d := dial(b, s)
		d.cmd("EHLO client.test", "250")
		for j := 0; j < 10 && i < b.N; j, i = j+1, i+1 {
			if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
				b.Fatalf("end of data %q", got)
			}
		}
		d.cmd("QUIT", "221")
		d.conn.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/msg")
}
