package smtp

import (
	"strings"
	"testing"
	"time"
)

// drainConnectors is an anonymous submit connector on 127.0.0.121.
const drainConnectors = `
  - name: default
    bindings: ["127.0.0.121:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 20s}
`

// A drain lets the transactions in progress at its start finish, and
// no other: a session whose transaction was under way when Shutdown
// began gets its 250 for that message, and the MAIL it sends next (at
// once, pipelined behind the final dot) opens no second transaction —
// 421 4.3.2 and the connection closed, as an idle session gets at the
// drain's start. The drain does not wait for the transaction it would
// have begun (OPS-1 SIGTERM drains; README "transactions in progress
// finish").
func TestDrainRefusesMailAfterTransactionInProgress(t *testing.T) {
	q, busy, done := drainDuringBody(t)
	// The rest of the body, and a second transaction pipelined behind it.
	busy.send("last part\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n")
	busy.expect("250 2.0.0")
	if got := busy.reply(); !strings.HasPrefix(got, "421 4.3.2") {
		t.Fatalf("MAIL after the drain began: %q, want 421 4.3.2", got)
	}
	if got := busy.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("after the 421: %q, want the end of the stream", got)
	}
	select {
	case <-done: // a bound on a hang (the client's idle timeout is 20 s), not a duration asserted
	case <-time.After(10 * time.Second):
		t.Fatal("the drain waits for a transaction begun after it started")
	}
	if n := q.count(); n != 1 {
		t.Fatalf("%d messages queued, want the one in progress at the drain's start", n)
	}
}

// The same when the client reads the 250 first and then begins another
// transaction (not pipelined): its MAIL gets 421 4.3.2, and the
// transaction it would open does not hold the drain while the client is
// silent after it.
func TestDrainRefusesMailAfterReply(t *testing.T) {
	q, busy, done := drainDuringBody(t)
	busy.cmd("last part\r\n.", "250 2.0.0")
	busy.send("MAIL FROM:<a@example.org>\r\n")
	if got := busy.reply(); !strings.HasPrefix(got, "421 4.3.2") {
		t.Fatalf("MAIL after the drain began: %q, want 421 4.3.2", got)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the drain waits for a transaction begun after it started")
	}
	if n := q.count(); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
}

// drainDuringBody starts a server, opens a transaction whose body is
// half sent, and begins Shutdown; done receives how long the drain took.
// It returns once the drain is under way.
func drainDuringBody(t *testing.T) (*fakeQueue, *dialog, <-chan time.Duration) {
	t.Helper()
	q := &fakeQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, drainConnectors), Routing: testTable(), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	busy := dial(t, s, "127.0.0.121")
	busy.expect("220")
	busy.openData()
	busy.send("Subject: x\r\n\r\nfirst part\r\n")
	done := make(chan time.Duration, 1)
	go func() {
		ctx, cancel := contextWithTimeout(15 * time.Second)
		defer cancel()
		start := time.Now()
		s.Shutdown(ctx)
		done <- time.Since(start)
	}()
	time.Sleep(200 * time.Millisecond) // the drain is under way
	return q, busy, done
}
