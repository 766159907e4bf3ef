package smtp

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// A session the server ends lingers (it drains what the client still
// sends so the last reply arrives), but the connection's slot — its
// share of max_connections and max_connections_per_source — is free
// from the moment the session ends: a client that keeps sending after
// the server closed cannot hold a slot for the linger's 2 s.
func TestClosingSessionFreesItsSlot(t *testing.T) {
	s := startWith(t, ServerConfig{Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_connections: 1, max_connections_per_source: 1}
`)})
	for round := 0; round < 3; round++ {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.send("QUIT\r\n")
		d.expect("221")
		// The client keeps sending (never closing its side); the server
		// has ended the session and lingers.
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 400; i++ { // 4 s at most
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := d.conn.Write([]byte("NOOP\r\n")); err != nil {
					return
				}
			}
		}()
		// The end of the server's stream: it closed its sending side.
		if line, err := d.r.ReadString('\n'); err == nil {
			t.Fatalf("after 221: %q", line)
		}
		next := dial(t, s, "")
		r := bufio.NewReader(next.conn)
		got, _ := r.ReadString('\n')
		close(stop)
		<-done
		if !strings.HasPrefix(got, "220") {
			t.Fatalf("round %d: a new connection while the last one lingers got %q, want 220", round, got)
		}
		next.conn.Write([]byte("EHLO c\r\nQUIT\r\n"))
		for { // up to the end of its stream: its session has ended
			if _, err := r.ReadString('\n'); err != nil {
				break
			}
		}
		next.conn.Close()
		d.conn.Close()
	}
}
