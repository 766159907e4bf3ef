package delivery

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// fullBacklog listens at 127.0.0.187:port with a backlog that one
// connection, never accepted, fills: the kernel drops every later SYN,
// and a connect waits as it does to a host that is down. It returns the
// address.
func fullBacklog(t *testing.T, port int) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 187}}); err != nil {
		t.Skipf("binding 127.0.0.187:%d: %v", port, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(rcpt47IP, strconv.Itoa(port))
	for range 4 { // fill the queue: until a connect is left waiting
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the listener's queue took every connection")
	return ""
}

// SR-17 (rcpt47 item 4): the hand-over before the 250 of a discard owed
// to hub-b, whose host does not take the connection within
// connect_timeout (300 ms here, under the hand-over's 2 s): a hang, as a
// session that ran out of its command_timeout is
// (TestSR17DiscardHandOverSessionDeadlineMarksServerHung). It recorded
// no hungAt, and every receipt after it waited the connect timeout
// again for the same server.
func TestSR17DiscardHandOverConnectTimeoutMarksServerHung(t *testing.T) {
	defer func(d time.Duration) { receiptDiscardPush = d }(receiptDiscardPush)
	receiptDiscardPush = 4 * time.Second
	bAddr := fullBacklog(t, 39600)
	st, q := openQueue(t, clock.NewFake(time.Now()))
	_, r := rcpt47Rig(t, 300*time.Millisecond, time.Hour, routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr})
	r.WithHolders(q)
	org := strings.Repeat("0", 31) + "4"
	if err := st.Update(context.Background(), func(tx *queue.Tx) error { return tx.AddDiscard("hub-b", org, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.HandLeftDiscards(context.Background(), 0, org, []string{"hub-b"})
	if took := time.Since(start); took >= receiptDiscardPush-time.Second {
		t.Fatalf("the hand-over took %v: it ran out of its own bound, not the connect timeout; the test proves nothing", took)
	}
	if !r.hungLately("hub-b") {
		t.Error("hub-b, whose connect timed out in the hand-over, is not marked as a server that hung: the next receipts wait for it again")
	}
}

// SR-17 (rcpt47 item 4, sibling): a shadow server that takes the
// session for copies on receipt and is then silent at XSHADOW past
// command_timeout (300 ms, under the try's bound) hangs as one silent
// at the copy's MAIL does: it is marked so (hungAt), and the discards
// owed to it are not pushed before the next 250s while it hangs.
// silentAtXShadow is a shadow server at an address of ports lo..lo+99
// that greets, answers EHLO (XSHADOW 13) and reads XSHADOW without ever
// answering it; xshadow gets one value per XSHADOW read.
func silentAtXShadow(t *testing.T, lo int) (addr string, xshadow chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", testsupport.AddrInRange(t, rcpt47IP, lo, 100))
	if err != nil {
		t.Fatal(err)
	}
	xshadow = make(chan struct{}, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() {
				c.Write([]byte("220 hub-b.test ESMTP\r\n"))
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(line); {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250-hub-b.test\r\n250-XSHADOW 13\r\n250 8BITMIME\r\n"))
					case strings.HasPrefix(cmd, "XSHADOW"):
						xshadow <- struct{}{} // read, never answered
					default:
						c.Write([]byte("502 5.5.1 no\r\n"))
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), xshadow
}

func TestSR17SilentAtXShadowMarksServerHung(t *testing.T) {
	addr, xshadow := silentAtXShadow(t, 39700)
	_, r := rcpt47Rig(t, 5*time.Second, 300*time.Millisecond, routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr})
	link, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
	if err == nil {
		link.Done(false)
		t.Fatal("a session for copies opened on a server silent at XSHADOW")
	}
	if len(xshadow) == 0 {
		t.Fatalf("hub-b never read XSHADOW (%v): the test proves nothing", err)
	}
	if !r.hungLately("hub-b") {
		t.Errorf("hub-b, silent at XSHADOW past command_timeout (%v), is not marked as a server that hung", err)
	}
}

// SR-17 (rcpt47 item 4, sibling): a probe of hub-b (the holders' pass,
// a marked server's once-a-minute try) that hub-b takes and then leaves
// unanswered at XSHADOW past command_timeout is the same hang: it marked
// hub-b in destination health only, and the next receipts pushed the
// discards owed to it before their 250s, each waiting for it again.
func TestSR17ProbeSilentAtXShadowMarksServerHung(t *testing.T) {
	addr, xshadow := silentAtXShadow(t, 39800)
	_, r := rcpt47Rig(t, 5*time.Second, 300*time.Millisecond, routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr})
	if _, err := r.Probe(context.Background(), "hub-b"); err == nil {
		t.Fatal("a probe of a server silent at XSHADOW succeeded")
	}
	if len(xshadow) == 0 {
		t.Fatal("hub-b never read XSHADOW: the test proves nothing")
	}
	if !r.hungLately("hub-b") {
		t.Error("hub-b, silent at XSHADOW past command_timeout in a probe, is not marked as a server that hung")
	}
}
