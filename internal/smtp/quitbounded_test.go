package smtp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// quitPeer is a next hop on loopback that greets, takes EHLO, and then
// answers MAIL as mail says ("" never: a reply that does not come) and
// QUIT with 221 when answerQuit is set (else never). It reports every
// command line it read on lines and closes eof when the client closed
// the connection.
type quitPeer struct {
	addr  string
	lines chan string
	eof   chan struct{}
}

func startQuitPeer(t *testing.T, mail string, answerQuit bool) *quitPeer {
	t.Helper()
	p := &quitPeer{lines: make(chan string, 64), eof: make(chan struct{})}
	srv := testsupport.Serve(t, testsupport.AddrInRange(t, "127.0.0.132", 9000, 1000), func(c net.Conn) {
		go func() {
			defer close(p.eof)
			br := bufio.NewReader(c)
			c.Write([]byte("220 peer.example ESMTP\r\n"))
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return // the client closed: EOF
				}
				cmd := strings.ToUpper(strings.TrimSpace(line))
				p.lines <- cmd
				switch {
				case strings.HasPrefix(cmd, "EHLO"):
					c.Write([]byte("250-peer.example\r\n250 PIPELINING\r\n"))
				case strings.HasPrefix(cmd, "MAIL"):
					if mail != "" {
						c.Write([]byte(mail + "\r\n"))
					}
				case cmd == "QUIT":
					if answerQuit {
						c.Write([]byte("221 bye\r\n"))
					}
				default:
					c.Write([]byte("250 ok\r\n"))
				}
			}
		}()
	})
	p.addr = srv.Addr()
	return p
}

// dial opens a client to the peer with a command timeout of d.
func (p *quitPeer) dial(t *testing.T, d time.Duration) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "umbra.example", CommandTimeout: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// quitWithin runs QuitBounded and fails the test if it has not returned
// within limit (a bound far above quitWait, not a measurement).
func quitWithin(t *testing.T, c *Client, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.QuitBounded() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		c.Close()
		t.Fatalf("QuitBounded still waiting after %v (quitWait %v): it waited the command timeout", limit, quitWait)
		return nil
	}
}

// sawQuit drains the lines the peer read until it saw the client close,
// and reports whether one was QUIT.
func (p *quitPeer) sawQuit(t *testing.T) bool {
	t.Helper()
	select {
	case <-p.eof:
	case <-time.After(30 * time.Second):
		t.Fatal("the peer never saw the connection closed: QuitBounded left it open")
	}
	quit := false
	for {
		select {
		case l := <-p.lines:
			quit = quit || l == "QUIT"
		default:
			return quit
		}
	}
}

// SMTP-1: a QUIT the next hop never answers costs quitWait, not the
// session's command timeout, and the connection is closed (the peer
// sees EOF); the unanswered QUIT is no success (the server may not have
// read it: unknown).
func TestQuitBoundedUnansweredQuitClosesWithinItsBound(t *testing.T) {
	defer func(w time.Duration) { quitWait = w }(quitWait)
	quitWait = 200 * time.Millisecond
	p := startQuitPeer(t, "250 ok", false)
	c := p.dial(t, time.Hour)
	if err := quitWithin(t, c, 20*time.Second); err == nil {
		t.Error("a QUIT with no reply returned nil: taken for one the server answered")
	}
	if !p.sawQuit(t) {
		t.Error("no QUIT sent to a server in step")
	}
}

// SMTP-1: a session whose last command timed out is out of step — the
// reply may still come, in the place of the QUIT's — and is closed with
// no QUIT.
func TestQuitBoundedNoQuitAfterATimeout(t *testing.T) {
	p := startQuitPeer(t, "", true) // MAIL never answered
	c := p.dial(t, 300*time.Millisecond)
	if err := c.Mail("a@example.test", nil); err == nil {
		t.Fatal("MAIL answered by a peer that never replies")
	}
	if err := quitWithin(t, c, 20*time.Second); !errors.Is(err, ErrOutOfStep) {
		t.Errorf("QuitBounded after a timed-out MAIL: %v, want ErrOutOfStep", err)
	}
	if p.sawQuit(t) {
		t.Error("QUIT sent on a session whose MAIL reply never came (out of step)")
	}
}

// SMTP-1: a reply go-smtp could not take (malformed) leaves the session
// out of step as well: closed with no QUIT.
func TestQuitBoundedNoQuitAfterABrokenReply(t *testing.T) {
	p := startQuitPeer(t, "2x0 what", true)
	c := p.dial(t, time.Hour)
	if err := c.Mail("a@example.test", nil); err == nil {
		t.Fatal("a malformed reply to MAIL taken for an acceptance")
	}
	if err := quitWithin(t, c, 20*time.Second); !errors.Is(err, ErrOutOfStep) {
		t.Errorf("QuitBounded after a malformed reply: %v, want ErrOutOfStep", err)
	}
	if p.sawQuit(t) {
		t.Error("QUIT sent on a session whose MAIL reply was malformed (out of step)")
	}
}

// SMTP-1: the ordinary end: QUIT answered 221, nil, the connection
// closed.
func TestQuitBoundedAnsweredQuit(t *testing.T) {
	p := startQuitPeer(t, "250 ok", true)
	c := p.dial(t, time.Hour)
	if err := c.Mail("a@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := quitWithin(t, c, 20*time.Second); err != nil {
		t.Errorf("QuitBounded with a 221: %v", err)
	}
	if !p.sawQuit(t) {
		t.Error("no QUIT sent")
	}
}
