package smtp

import (
	"context"
	"net"
	"testing"
	"time"
)

// EDGE-1, Q-3: a session cancelled while NewClient opens it ends then,
// whenever the cancellation lands. It was armed as a deadline of now on
// the connection, which the command timeout's deadline set for the
// greeting right after overwrote: a cancellation that came in between
// waited the whole command timeout (an hour here) at a next hop that
// accepts and never greets. The hook cancels before the greeting and
// waits for the cancellation's callback to have run.
func TestNewClientCancelledBeforeTheGreetingEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c // accepted, never greeted
		}
	}()
	t.Cleanup(func() {
		select {
		case c := <-held:
			c.Close()
		default:
		}
	})
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	newClientArmed = func(actx context.Context) {
		ran := make(chan struct{})
		context.AfterFunc(actx, func() { close(ran) })
		cancel()
		<-ran
		time.Sleep(50 * time.Millisecond) // NewClient's own callback has run too
	}
	t.Cleanup(func() { newClientArmed = nil })
	done := make(chan error, 1)
	go func() {
		_, err := NewClient(ctx, nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone, CommandTimeout: time.Hour})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled session opened")
		}
	case <-time.After(time.Minute): // a bound on a hang, not a timing: the command timeout is an hour
		nc.Close()
		t.Fatal("a session cancelled before its greeting waited the command timeout: the greeting's deadline overwrote the cancellation")
	}
}
