package smtp

import (
	"context"
	"net"
	"sync"
	"time"
)

// peerPoll is how often a running end-of-data check looks whether the
// client is still there.
const peerPoll = 200 * time.Millisecond

// checkContext is the context the end-of-data checks run under: the
// server's, ended also when the client closes the connection while they
// run (their work is then for nobody: a check that computes or looks up
// must stop rather than keep a core busy after the client left). stop
// ends the watch; call it when the checks return.
func (s *session) checkContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(s.srv.ctx)
	conn := s.raw
	if tc, ok := conn.(*trackedConn); ok {
		conn = tc.Conn
	}
	if conn == nil || !canPeek(conn) {
		return ctx, cancel
	}
	// A timer, not a goroutine: most checks end long before the first
	// look is due, and then nothing was started (no goroutine to create
	// and wake per message).
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	t = time.AfterFunc(peerPoll, func() {
		if ctx.Err() != nil {
			return
		}
		if peerClosed(conn) {
			s.log.Info("client closed the connection during the end-of-data checks; checks stopped")
			cancel()
			return
		}
		mu.Lock()
		if !stopped {
			t.Reset(peerPoll)
		}
		mu.Unlock()
	})
	mu.Unlock()
	return ctx, func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
		cancel()
	}
}

// canPeek reports whether peerClosed can look at c.
func canPeek(c net.Conn) bool {
	return peekSupported(c)
}
