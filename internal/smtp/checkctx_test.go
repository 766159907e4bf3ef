package smtp

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// blockingCheck holds the end-of-data stage until its context ends and
// reports why it ended.
type blockingCheck struct {
	started chan struct{}
	ended   chan error
}

func (c *blockingCheck) Name() string { return "blocking" }
func (c *blockingCheck) Data(ctx context.Context, _ *ConnInfo, _ *Transaction) Verdict {
	close(c.started)
	select {
	case <-ctx.Done():
		c.ended <- ctx.Err()
	case <-time.After(time.Minute): // bounded: the test fails below
		c.ended <- errors.New("context still live a minute after the client left")
	}
	return Verdict{}
}

// EDGE: the work of the end-of-data checks stops when the client hangs
// up; it does not go on for nobody.
func TestChecksStopWhenClientLeaves(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the connection is watched on Linux only")
	}
	ck := &blockingCheck{started: make(chan struct{}), ended: make(chan error, 1)}
	s := startWithChecks(t, &fakeQueue{}, ck)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nhello\r\n.\r\n")
	select {
	case <-ck.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the check never ran")
	}
	d.conn.Close()
	if err := <-ck.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("check ended with %v, want the session's context canceled", err)
	}
}
