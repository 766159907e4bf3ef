package delivery

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// quitCounter is a listener whose connections count the QUIT commands
// the client sent.
type quitCounter struct {
	net.Listener
	n *atomic.Int32
}

func (l quitCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return &quitConn{Conn: c, n: l.n}, err
}

type quitConn struct {
	net.Conn
	n *atomic.Int32
}

func (c *quitConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for _, line := range strings.Split(string(b[:n]), "\r\n") {
		if strings.EqualFold(line, "QUIT") {
			c.n.Add(1)
		}
	}
	return n, err
}

// SMTP-1 (rt41 F4): an LMTP session ends with QUIT, as RFC 2033 and
// RFC 5321 §4.1.1.10 have a client end it — umbra closed the connection
// with none, and Dovecot logged "Disconnect … state=READY" for every
// delivery. Real LMTP over loopback.
func TestLMTPSessionEndsWithQuit(t *testing.T) {
	var quits atomic.Int32
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &sinkSession{s: &sink{t: t, answers: map[string]error{}, dataErr: map[string]error{}}, c: c}, nil
	}))
	srv.Domain, srv.LMTP, srv.ErrorLog = "lmtp.test", true, nopLog{}
	ln := testsupport.Listen(t, "127.0.0.166:9401")
	go srv.Serve(quitCounter{Listener: ln, n: &quits})
	t.Cleanup(func() { srv.Close() })
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: ln.Addr().String()})
	m := message("bob@example.test", "carol@example.test")
	for _, r := range d.Deliver(context.Background(), m, []byte("Subject: s\r\n\r\nhello\r\n"), all(m)) {
		if r.Outcome != queue.DeliveredOK {
			t.Fatalf("%+v", r)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for quits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the LMTP session was closed without QUIT")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
