package smtp

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// A MAIL sent as the drain begins meets the drain's own look at the
// session (closeIdle): one of the two gives the session its last reply,
// the 421, and logs its end — never both (two 421s, two "session ended"
// lines for one session). The drain's look is made to come inside the
// MAIL's refusal, at the moment the race left open.
func TestSMTP2DrainAndMailRefusalGiveOneLastReply(t *testing.T) {
	for _, sessionFirst := range []bool{false, true} {
		name := "drain first"
		if sessionFirst {
			name = "session first"
		}
		t.Run(name, func(t *testing.T) { drainRace(t, sessionFirst) })
	}
}

func drainRace(t *testing.T, sessionFirst bool) {
	var logBuf syncBuffer
	conns := connectors(t, "  - {name: in, bindings: [\"127.0.0.153:0\"], permissions: {anonymous: [submit]}}\n")
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{},
		Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		testHookMailDraining = nil
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	d := dial(t, s, "127.0.0.153")
	d.expect("220")
	d.cmd("EHLO client.test", "250")

	var once sync.Once
	testHookMailDraining = func(tc *trackedConn, claimed bool) {
		if claimed != sessionFirst {
			return
		}
		once.Do(func() {
			s.mu.Lock()
			all := append([]*connector(nil), s.conns...)
			s.mu.Unlock()
			looked := make(chan struct{})
			go func() { // the drain's goroutine: its close lingers until the client is gone
				defer close(looked)
				for _, c := range all {
					c.limits.closeIdle(false, true)
				}
			}()
			// The drain's look made — its reply written, or the
			// session left to end by itself — before the MAIL goes on.
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && !tc.ending.Load(); {
				select {
				case <-looked:
					return
				case <-time.After(time.Millisecond):
				}
			}
		})
	}
	s.mu.Lock()
	close(s.draining) // the drain has begun; its look at the sessions comes in the MAIL
	s.closed = true
	s.mu.Unlock()

	d.send("MAIL FROM:<a@example.test>\r\n")
	rest, _ := io.ReadAll(d.r)
	d.conn.Close()
	if n := strings.Count(string(rest), "421 "); n != 1 {
		t.Errorf("the session got %d 421 replies, want one: %q", n, rest)
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && len(logBuf.lines("msg=disconnect")) == 0; {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a late line of the other goroutine
	if ended := logBuf.lines(`msg="session ended"`); len(ended) != 1 {
		t.Errorf("%d \"session ended\" lines for one session, want one:\n%s", len(ended), strings.Join(ended, "\n"))
	}
}
