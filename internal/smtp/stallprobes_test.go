package smtp

import (
	"net"
	"sync"
	"testing"
	"time"
)

// "A body the next hop takes nothing more of is given up
// one command timeout after its last progress, not up to two" (2ceeb3cd).
// The time of the last progress is taken from TCP_INFO's last_ack_recv:
// the time of the last acknowledgement of any kind, not of the last one
// that moved bytes_acked. A next hop that stops reading closes its
// window, and the kernel's zero-window probes (as the keepalives) are
// acknowledged all through the stall: the first look finds the bytes
// taken before it "progress" and dates it at the last probe's
// acknowledgement, moments ago, so the stall is found close to two
// command timeouts after the next hop last took a byte. Real TCP on
// loopback with the kernel's count; the next hop accepts and never reads.
// The margins are wide for a loaded machine (found at 1.5 command
// timeouts or later fails, the fix gives up within 1.125;
// the defect gives 1.5 to 2). SMTP-1.
func TestSMTP1StallFoundOneCommandTimeoutAfterLastByteTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c // never read: its window closes
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	defer func() {
		select {
		case c := <-held:
			c.Close()
		default:
		}
	}()
	tcp := nc.(*net.TCPConn)
	if _, _, ok := tcpBytesAcked(tcp); !ok {
		t.Skip("no TCP_INFO here")
	}
	safety := time.AfterFunc(30*time.Second, func() { nc.Close() }) // bounded
	defer safety.Stop()

	// The last time the next hop took a byte, as the kernel's count shows.
	var mu sync.Mutex
	var lastN uint64
	lastChange := time.Now()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if n, _, ok := tcpBytesAcked(tcp); ok {
				mu.Lock()
				if n != lastN {
					lastN, lastChange = n, time.Now()
				}
				mu.Unlock()
			}
		}
	}()

	const commandTimeout = 4 * time.Second
	w := watchBody(nc, commandTimeout)
	defer w.stop()
	chunk := make([]byte, 1<<20)
	for i := 0; i < 4096; i++ { // bounded: the next hop holds a few MB at most
		if _, err := w.Write(chunk); err != nil {
			break
		}
	}
	failedAt := time.Now()
	close(stop)
	<-sampled
	mu.Lock()
	last := lastChange
	mu.Unlock()
	_, ago, _ := tcpBytesAcked(tcp)
	if gap := failedAt.Sub(last); gap >= commandTimeout+commandTimeout/2 {
		t.Fatalf("the next hop last took a byte %v before the body was given up; want one command timeout (%v): "+
			"the kernel's last acknowledgement was %v ago (zero-window probes answered), not %v",
			gap.Round(time.Millisecond), commandTimeout, ago, gap.Round(time.Millisecond))
	}
}
