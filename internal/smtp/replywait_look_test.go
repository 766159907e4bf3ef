package smtp

import (
	"io"
	"net"
	"testing"
	"time"
)

// The wait for the reply to the final dot starts again
// at each progress, "so the wait after the next hop took the last byte is
// data_timeout" (bodywatch.go). A next hop that, after the dot, takes
// nothing for more than half of data_timeout and then takes the rest
// (a filter reading the body in bursts) must be waited for data_timeout
// after that progress. The looks come every data_timeout/2 from the
// previous look, so the look that would find the progress is due only at
// (or after) the read deadline set at the dot: the read times out first,
// data_timeout*0.4 after the next hop last took something. The clock is
// the test's; the looks are called directly. SMTP-1.
func TestSMTP1ProgressAfterADeadLookMovesTheReplyWaitInTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const commandTimeout = time.Hour // no timer fires in the test
	const dataTimeout = 10 * time.Minute
	t0 := time.Now()
	clock := t0
	rec := &deadlineConn{Conn: nc}
	w := watchBody(rec, commandTimeout)
	defer w.stop()
	w.tcp = nil // progress is the bytes written: the test's clock says when
	w.now = func() time.Time { return clock }
	w.seenAt = t0
	if _, err := w.Write([]byte("Subject: x\r\n\r\nbody\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	w.awaitReply(dataTimeout) // the final dot at t0
	clock = w.due             // the first look: nothing taken since the dot
	w.look()
	// The next hop takes more at t0+0.6*dataTimeout (bytes written stand
	// for the kernel's acknowledged count, which the test cannot move).
	progressAt := t0.Add(dataTimeout * 6 / 10)
	clock = progressAt
	w.mu.Lock()
	w.written += 4096
	w.wroteAt = clock
	w.mu.Unlock()
	// Whatever deadline is in force when the next look is due has fired
	// by then, unless it is later than that look.
	set := rec.readDeadlines()
	inForce := set[len(set)-1]
	if !w.due.Before(inForce) {
		t.Fatalf("the next hop took more at +%v; the read deadline in force fires at +%v, the next look (which would move it to +%v) is due at +%v: "+
			"the reply is given up %v after the last progress, not data_timeout (%v)",
			progressAt.Sub(t0), inForce.Sub(t0), progressAt.Add(dataTimeout).Sub(t0), w.due.Sub(t0), inForce.Sub(progressAt), dataTimeout)
	}
}
