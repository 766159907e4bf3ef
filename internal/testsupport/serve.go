package testsupport

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Server is a loopback listener with an accept loop (Serve): it counts
// the connections it accepted and closes them, and itself, when the
// test ends.
type Server struct {
	ln       net.Listener
	accepted chan struct{}

	mu    sync.Mutex
	conns []net.Conn
	at    []time.Time // when each of conns was accepted
}

// Serve listens on addr (Listen: a reserved address is taken over; port
// 0 for any) and hands every connection to handle, in the accepting
// goroutine (handle starts its own for long work), until the test ends;
// then every connection accepted is closed. A nil handle leaves each
// connection open and unanswered (Silent).
func Serve(t testing.TB, addr string, handle func(net.Conn)) *Server {
	t.Helper()
	return Accept(t, Listen(t, addr), handle)
}

// Accept is Serve on a listener of the caller's.
func Accept(t testing.TB, ln net.Listener, handle func(net.Conn)) *Server {
	s := &Server{ln: ln, accepted: make(chan struct{}, 64)}
	t.Cleanup(func() { s.Close() })
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns, s.at = append(s.conns, c), append(s.at, time.Now())
			s.mu.Unlock()
			select {
			case s.accepted <- struct{}{}:
			default: // nobody waits: the count says it
			}
			if handle != nil {
				handle(c)
			}
		}
	}()
	return s
}

// Silent is a peer on addr that takes every connection and never says a
// word (a stopped process behind a listening socket, a directory or hub
// that hangs): Serve with no handler.
func Silent(t testing.TB, addr string) *Server { return Serve(t, addr, nil) }

// Addr is the address s listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting and closes every connection accepted (the
// test's end does it too): a peer that hung lets go of its clients.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return err
}

// Accepted is signalled at each connection accepted (up to 64 not yet
// received; Count has them all).
func (s *Server) Accepted() <-chan struct{} { return s.accepted }

// Count is the number of connections accepted so far.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// CountSince is the number of connections accepted at or after t0.
func (s *Server) CountSince(t0 time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.at {
		if !at.Before(t0) {
			n++
		}
	}
	return n
}
