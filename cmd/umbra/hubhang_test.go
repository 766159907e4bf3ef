package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// hungHubPair is hub-a (site a), a real umbra, whose mail for anywhere
// outside is relayed to hub-b (site b, the source of the send
// connector). hub-b is whatever the test listens with at b.
func hungHubPair(t *testing.T, extra string) (dir, cfgA, a, b string) {
	t.Helper()
	dir, a, b = t.TempDir(), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	topoPath := twoSiteTopology(t, dir, a, b, "127.0.0.9:25", "hub-b")
	cfgA, _ = orgHub(t, dir, "hub-a", a, topoPath, "0s", extra)
	editConfig(t, cfgA, "transport: {", "transport: {poison_threshold: 2, ")
	return dir, cfgA, a, b
}

// kill9ThriceWaiting sends one message to the daemon at listen, then,
// three times, waits for reached (the delivery waits on the hung next
// hop), kills the daemon with -9 and (twice) starts it again; the third
// start's recovery counted the second kill. The message must be in the
// database, neither poisoned nor with a crash counted against it.
func kill9ThriceWaiting(t *testing.T, cfg, listen, dataDir string, reached func(*daemon)) {
	kill9ThriceWaitingTo(t, cfg, listen, dataDir, "b@remote.example", reached)
}

// kill9ThriceWaitingTo is kill9ThriceWaiting for a message to rcpt.
func kill9ThriceWaitingTo(t *testing.T, cfg, listen, dataDir, rcpt string, reached func(*daemon)) {
	t.Helper()
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{rcpt}, strings.NewReader("Subject: hung-hop\r\n\r\n"+strings.Repeat("hung\r\n", 100))); err != nil {
		t.Fatalf("not acknowledged: %v", err)
	}
	c.Quit()
	for run := 1; run <= 3; run++ {
		reached(d)
		time.Sleep(200 * time.Millisecond)
		d.kill()
		if run < 3 {
			d = startUmbra(t, cfg, listen)
			// The recovery counted the kill's crash: with
			// poison_threshold 2, the second moves the message to the
			// poison queue and no attempt comes to wait for. Said here,
			// rather than as a wait that times out.
			if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "message moved to the poison queue") {
				d.dumpLog()
				t.Fatalf("kill %d counted a crash against the message while it waited on the peer: it was moved to the poison queue", run)
			}
		}
	}
	wantNoCrashCounted(t, dataDir, 1, true)
}

// rt24 F1: a relay to a hub of the organisation that hangs (stopped: its
// connections complete in the listen backlog, no greeting ever comes)
// only waits on the next hop. Two kill -9s of the sending hub while it
// waits for the greeting count no crash against the message.
func TestKill9WhileRelayWaitsForHungHubGreeting(t *testing.T) {
	dir, cfgA, a, b := hungHubPair(t, "")
	hub := startSilentPeer(t, b)
	kill9ThriceWaiting(t, cfgA, a, filepath.Join(dir, "hub-a", "data"), func(d *daemon) { hub.waitConns(t, 1, d) })
}

// stuckHub is a hub of the organisation as far as a relay to it goes:
// it greets, offers XSHADOW, answers the shadow session and takes the
// message — and stops answering at the first command that starts with
// hangAt (it reads on, and never replies again). reached is signalled
// each time a session gets there.
type stuckHub struct {
	hangAt  string
	reached chan struct{}
}

func startStuckHub(t *testing.T, addr, hangAt string) *stuckHub {
	t.Helper()
	h := &stuckHub{hangAt: hangAt, reached: make(chan struct{}, 64)}
	testsupport.Serve(t, addr, func(c net.Conn) { go h.serve(c) })
	return h
}

func (h *stuckHub) serve(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 hub-b.test ESMTP")
	hung, data := false, false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if data {
			if line == "." {
				data = false
				say("250 2.0.0 queued")
			}
			continue
		}
		if hung {
			continue
		}
		verb := strings.ToUpper(line)
		if strings.HasPrefix(verb, h.hangAt) {
			hung = true
			select {
			case h.reached <- struct{}{}:
			default:
			}
			continue
		}
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			say("250-hub-b.test\r\n250-8BITMIME\r\n250-XSHADOW\r\n250 SIZE 0")
		case strings.HasPrefix(verb, "XSHADOW "):
			say("250 0123456789abcdef0123456789abcdef")
		case strings.HasPrefix(verb, "XQUERYDISCARD"):
			say("250 0 discard notifications")
		case strings.HasPrefix(verb, "DATA"):
			data = true
			say("354 go ahead")
		case strings.HasPrefix(verb, "QUIT"):
			say("221 bye")
			c.Close()
			return
		default:
			say("250 2.0.0 ok")
		}
	}
}

func (h *stuckHub) wait(t *testing.T, d *daemon) {
	t.Helper()
	select {
	case <-h.reached:
	case <-time.After(30 * time.Second):
		d.dumpLog()
		t.Fatalf("no session reached %s", h.hangAt)
	}
}

// Siblings of rt24 F1: a hub that answers, and stops answering the
// shadow session's XSHADOW (before the message), or the XQUERYDISCARD a
// relay asks right after the message: the relay only waits on it, so
// two kill -9s count no crash against the message.
func TestKill9WhileRelayWaitsForStuckHub(t *testing.T) {
	for _, at := range []string{"XSHADOW ", "XQUERYDISCARD"} {
		t.Run(strings.TrimSpace(at), func(t *testing.T) {
			dir, cfgA, a, b := hungHubPair(t, "")
			hub := startStuckHub(t, b, at)
			kill9ThriceWaiting(t, cfgA, a, filepath.Join(dir, "hub-a", "data"), func(d *daemon) { hub.wait(t, d) })
		})
	}
}

// hangingAuthSession is a smart host's session whose login never gets an
// answer: the SASL exchange blocks until the test ends.
type hangingAuthSession struct {
	reached chan struct{}
	release chan struct{}
}

func (s *hangingAuthSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *hangingAuthSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error {
		select {
		case s.reached <- struct{}{}:
		default:
		}
		<-s.release
		return errors.New("too late")
	}), nil
}
func (s *hangingAuthSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *hangingAuthSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *hangingAuthSession) Data(io.Reader) error                   { return nil }
func (s *hangingAuthSession) Reset()                                 {}
func (s *hangingAuthSession) Logout() error                          { return nil }

// A sibling of rt24 F1: a smart host that takes the connection, TLS and
// EHLO, and then never answers the send connector's login. Waiting for
// it is the next hop's time: two kill -9s count no crash against the
// message.
func TestKill9WhileLoginToSmartHostHangs(t *testing.T) {
	dir := t.TempDir()
	listen, hostAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	s := &hangingAuthSession{reached: make(chan struct{}, 8), release: make(chan struct{})}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return s, nil }))
	srv.Domain, srv.ErrorLog = "smart.test", nopLog{}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t, "smart.test")}}
	ln, err := net.Listen("tcp", hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { close(s.release); srv.Close() })
	cfg := relayConfig(t, dir, listen, hostAddr)
	pw := filepath.Join(dir, "smart-password")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, "    tls: none\n", fmt.Sprintf("    tls: required\n    auth: {username: relay, password_file: %q}\n", pw))
	editConfig(t, cfg, "transport:\n", "transport:\n  poison_threshold: 2\n")
	kill9ThriceWaiting(t, cfg, listen, filepath.Join(dir, "data"), func(d *daemon) {
		select {
		case <-s.reached:
		case <-time.After(30 * time.Second):
			d.dumpLog()
			t.Fatal("the smart host got no login")
		}
	})
}

// A sibling of rt24 F1: the LMTP mailbox server takes the connection and
// never greets (a hung Dovecot). Final delivery only waits on it: two
// kill -9s count no crash against the message.
func TestKill9WhileLMTPServerNeverGreets(t *testing.T) {
	dir := t.TempDir()
	listen, lmtpAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	peer := startSilentPeer(t, lmtpAddr)
	cfg := relayConfig(t, dir, listen, "127.0.0.9:25")
	editConfig(t, cfg, "mailbox:\n  maildir: maildir\n", fmt.Sprintf("mailbox: {lmtp: %q}\n", lmtpAddr))
	editConfig(t, cfg, "transport:\n", "transport:\n  poison_threshold: 2\n")
	kill9ThriceWaitingTo(t, cfg, listen, filepath.Join(dir, "data"), "x@example.test", func(d *daemon) { peer.waitConns(t, 1, d) })
}
