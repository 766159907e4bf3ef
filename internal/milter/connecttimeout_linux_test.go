package milter

import (
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS (README, milters: reason timeout): a milter that does not take the
// connection within connect_timeout is logged so, in words ("no
// connection within 300ms (connect_timeout)"), never as the dialer's
// "dial tcp …: i/o timeout". The milter's socket listens with a backlog
// of 0 that one connection, never accepted, fills: the kernel drops
// every later SYN, so umbra's connect waits, as it does on a milter
// host that is down.
func TestMilterConnectTimeoutSaidInWords(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: 10521, Addr: [4]byte{127, 0, 0, 127}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	full := false
	for range 4 { // fill the queue: until a connect is left waiting
		c, err := net.DialTimeout("tcp", "127.0.0.127:10521", 200*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	if !full {
		t.Fatal("the listener's queue took every connection")
	}
	var logs syncBuffer
	d := dial(t, startMTAObserved(t, &fakeQueue{}, milterConf("inet:127.0.0.127:10521", ", connect_timeout: 300ms"), nil, 0, 0,
		slog.New(slog.NewTextHandler(&logs, nil)), nil))
	d.cmd("EHLO client.test", "451 4.7.1")
	out := logs.String()
	if !strings.Contains(out, "reason=milter_timeout") || !strings.Contains(out, "milter_stage=connect") || !strings.Contains(out, "no connection within 300ms (connect_timeout)") ||
		strings.Contains(out, "i/o timeout") {
		t.Errorf("log:\n%s", out)
	}
}
