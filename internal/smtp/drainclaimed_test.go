package smtp

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// SMTP-2 (rr rrmix39): a MAIL refused for the drain claims the session's
// last reply (claimLast), and the drain leaves that session to end by
// itself — but not past the drain's bound: a session that claimed and
// then stalls before its 421 is out (its client reads nothing, the
// write blocks until the idle timeout) is cut by the force path, as
// every other session is. The drain skipped it at force too, and the
// session stayed open through the drain, its write unbounded by it.
func TestSMTP2DrainForceCutsASessionThatClaimedItsLastReply(t *testing.T) {
	conns := connectors(t, "  - {name: in, bindings: [\"127.0.0.212:15011\"], permissions: {anonymous: [submit]}}\n")
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	release := make(chan struct{})
	claimed := make(chan struct{})
	t.Cleanup(func() {
		close(release)
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx) // its sessions ended: none reads the hook
		testHookMailDraining = nil
	})
	d := dial(t, s, "127.0.0.212")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	testHookMailDraining = func(tc *trackedConn, sessionClaimed bool) {
		if !sessionClaimed {
			return
		}
		close(claimed)
		// The session's 421 does not get out (a client that reads
		// nothing: the write blocks), bounded here for the test.
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
	}
	s.mu.Lock()
	close(s.draining)
	s.closed = true
	s.mu.Unlock()
	d.send("MAIL FROM:<a@example.test>\r\n")
	select {
	case <-claimed:
	case <-time.After(10 * time.Second):
		t.Fatal("the MAIL refused for the drain did not claim the last reply")
	}
	ctx, cancel := contextWithTimeout(200 * time.Millisecond) // the drain's bound, spent: the force path
	defer cancel()
	s.mu.Lock()
	all := append([]*connector(nil), s.conns...)
	s.mu.Unlock()
	s.closeSessions(ctx, all, true)
	d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(d.r)
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the session stalled in its last reply is still open after the drain's force path: %v", err)
	}
}

// SMTP-2, RFC 2920 (rr rrmix39): a MAIL the drain refuses after the
// drain's look claimed the session's last reply writes no reply — the
// drain writes its 421 — and neither does a command pipelined after it:
// its reply (503, no MAIL) came out in the MAIL's place, before the
// drain's 421, and the client matched it to its MAIL. Here the drain's
// look claims the session and its write does not come before the
// client's pipeline is done (QUIT ends the session).
func TestSMTP2MailRefusedForTheDrainGetsNoReplyOfALaterCommand(t *testing.T) {
	conns := connectors(t, "  - {name: in, bindings: [\"127.0.0.212:15012\"], permissions: {anonymous: [submit]}}\n")
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx) // its sessions ended: none reads the hook
		testHookMailDraining = nil
	})
	d := dial(t, s, "127.0.0.212")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	testHookMailDraining = func(tc *trackedConn, sessionClaimed bool) {
		if !sessionClaimed {
			tc.claimLast(lastByDrain) // the drain's look came first; its 421 is on its way
		}
	}
	s.mu.Lock()
	close(s.draining)
	s.closed = true
	s.mu.Unlock()
	d.send("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nNOOP\r\nQUIT\r\n")
	rest, err := io.ReadAll(d.r)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(rest)), "\r\n") {
		if l != "" && !strings.HasPrefix(l, "421") {
			t.Errorf("the client got %q in its MAIL's place or after it: the drain claimed the session's last reply:\n%s", l, rest)
		}
	}
}
