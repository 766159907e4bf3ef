package smtp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// setDeadlines records every deadline set on the connection.
type setDeadlines struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (d *setDeadlines) note(t time.Time) {
	d.mu.Lock()
	d.set = append(d.set, t)
	d.mu.Unlock()
}

func (d *setDeadlines) SetDeadline(t time.Time) error {
	d.note(t)
	return d.Conn.SetDeadline(t)
}

func (d *setDeadlines) SetReadDeadline(t time.Time) error {
	d.note(t)
	return d.Conn.SetReadDeadline(t)
}

func (d *setDeadlines) SetWriteDeadline(t time.Time) error {
	d.note(t)
	return d.Conn.SetWriteDeadline(t)
}

// TestOpeningNeverExtendsTheCallersDeadline: the opening's steps
// (command_timeout each) and the QUIT after a refused EHLO (quitWait)
// never set a deadline past the one of the caller's context. The clock
// is not measured: the deadlines set are compared with the context's.
// SMTP-1, W-7.
func TestOpeningNeverExtendsTheCallersDeadline(t *testing.T) {
	defer func(w time.Duration) { quitWait = w }(quitWait)
	quitWait = time.Hour // longer than the caller's deadline
	for _, tc := range []struct {
		name  string
		reply string // to EHLO
		quit  bool   // the client must QUIT
	}{
		{"ehlo refused", "554 5.7.1 go away", true},
		{"ehlo taken", "250 mx.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			quitSeen := make(chan bool, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					quitSeen <- false
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				c.Write([]byte("220 mx.example ESMTP\r\n"))
				quit := false
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						break
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte(tc.reply + "\r\n"))
					case cmd == "QUIT":
						quit = true
						c.Write([]byte("221 bye\r\n"))
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
				quitSeen <- quit
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			dc := &setDeadlines{Conn: nc}
			limit := time.Now().Add(time.Minute)
			ctx, cancel := context.WithDeadline(context.Background(), limit)
			defer cancel()
			c, err := NewClient(ctx, dc, ClientOptions{LocalName: "hub.example", CommandTimeout: time.Hour})
			if c != nil {
				c.Close()
			} else {
				nc.Close()
			}
			if tc.quit && err == nil {
				t.Fatal("a refused EHLO opened the session")
			}
			if q := <-quitSeen; q != tc.quit {
				t.Fatalf("QUIT sent: %v, want %v", q, tc.quit)
			}
			dc.mu.Lock()
			defer dc.mu.Unlock()
			for _, d := range dc.set {
				if d.After(limit) {
					t.Errorf("deadline %v set, %v past the caller's", d, d.Sub(limit))
				}
			}
		})
	}
}
