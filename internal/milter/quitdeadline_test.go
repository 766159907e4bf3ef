package milter

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
)

// deadlines records every deadline set on a connection.
type deadlines struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (d *deadlines) SetDeadline(t time.Time) error {
	d.mu.Lock()
	d.set = append(d.set, t)
	d.mu.Unlock()
	return d.Conn.SetDeadline(t)
}

// TestMilterQuitAfterTheSessionEnded: the QUIT at the end of a session
// whose context ended (the client left, the checks' time ran out) sets
// no deadline in the future: it overwrote the past one the context's
// watch had set, and waited out quitWait for a milter that does not
// close. Commands never set one past the context's deadline either. No
// clock is measured: the deadlines set are compared. SMTP-1.
func TestMilterQuitAfterTheSessionEnded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a milter that reads and never closes
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rc := &deadlines{Conn: nc}
	limit := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), limit)
	s := &session{c: &Check{cfg: config.Milter{Name: "m", CommandTimeout: config.Duration(time.Hour)}, log: slog.New(slog.DiscardHandler)},
		ctx: ctx, conn: rc, br: bufio.NewReader(rc)}
	s.conn.SetDeadline(time.Time{})
	if err := s.send(cmdQuit, nil, -1, bound{time.Hour, "command_timeout"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	ended := time.Now()
	s.quit()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.set) < 3 {
		t.Fatalf("deadlines set: %v", rc.set)
	}
	if d := rc.set[1]; d.After(limit) {
		t.Errorf("a command's deadline %v past the session's %v", d, limit)
	}
	if d := rc.set[2]; !d.Before(ended) {
		t.Errorf("the QUIT after the session ended set deadline %v, %v after its end", d, d.Sub(ended))
	}
}
