package milter

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connLog records what each milter connection saw, one string per
// connection: the commands in order, then how the connection ended.
type connLog struct {
	mu    sync.Mutex
	conns []string
	done  chan struct{}
}

func (l *connLog) add(s string) {
	l.mu.Lock()
	l.conns = append(l.conns, s)
	l.mu.Unlock()
	l.done <- struct{}{}
}

func (l *connLog) wait(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-l.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d milter connections ended", i, n)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.conns...)
}

// One milter connection per message: after the verdict at end of
// message umbra says SMFIC_QUIT and reads until the milter closes, so
// the milter never meets a reset — not even one that writes after QUIT
// (a late note umbra drains) — and the next message of the session has
// a connection of its own, opened with the connect and HELO events
// again (EDGE-1).
func TestMilterConnectionPerMessage(t *testing.T) {
	l := &connLog{done: make(chan struct{}, 8)}
	addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
		var seen []string
		if !optneg(r, c, offeredActions, 0) {
			l.add("no negotiation")
			return
		}
		for {
			p, err := readPacket(r)
			if err != nil {
				seen = append(seen, "read: "+err.Error())
				break
			}
			switch p.code {
			case cmdMacro:
				continue
			case cmdQuit:
				seen = append(seen, "Q")
				// A late word after QUIT: umbra reads it (and drops it)
				// rather than closing on it, which would reset us.
				time.Sleep(50 * time.Millisecond)
				c.Write(appendPacket(nil, repProgress, nil))
				time.Sleep(50 * time.Millisecond)
				_, err := readPacket(r)
				switch {
				case errors.Is(err, io.EOF):
					seen = append(seen, "EOF")
				case err != nil:
					seen = append(seen, "after quit: "+err.Error())
				default:
					seen = append(seen, "after quit: a packet")
				}
				l.add(strings.Join(seen, " "))
				return
			case cmdAbort:
				continue // no reply
			case cmdHeader, cmdBody:
				c.Write(appendPacket(nil, repContinue, nil)) // not logged
				continue
			}
			seen = append(seen, string(p.code))
			if p.code == cmdEOB {
				c.Write(appendPacket(nil, repAccept, nil))
			} else {
				c.Write(appendPacket(nil, repContinue, nil))
			}
		}
		l.add(strings.Join(seen, " "))
	})
	q := &fakeQueue{}
	d := dial(t, startMTA(t, q, milterConf(addr, "")))
	d.cmd("EHLO client.test", "250")
	for i := 0; i < 2; i++ {
		if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
			t.Fatalf("message %d: end of data %q", i, got)
		}
	}
	got := l.wait(t, 2)
	want := "C H M R T N E Q EOF"
	for i, s := range got {
		if s != want {
			t.Errorf("milter connection %d saw %q, want %q", i, s, want)
		}
	}
	d.cmd("QUIT", "221")
	if q.count() != 2 {
		t.Fatalf("queued %d, want 2", q.count())
	}
}

// The next message's connection is checked like the session's first:
// a milter that refuses it at connect answers that MAIL, and one that
// cannot be reached gets the failure policy (451 4.7.1 under
// tempfail) at that MAIL, never a message let through unchecked.
func TestMilterNextMessageConnection(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		second     func(r *bufio.Reader, c net.Conn)
	}{
		{"reject at connect", "550 5.7.1", func(r *bufio.Reader, c net.Conn) {
			if optneg(r, c, offeredActions, 0) {
				if p, err := readPacket(r); err == nil && p.code == cmdMacro {
					readPacket(r)
				}
				c.Write(appendPacket(nil, repReplyCode, []byte("550 5.7.1 not you again\x00")))
				readPacket(r)
			}
		}},
		{"gone", "451 4.7.1", func(r *bufio.Reader, c net.Conn) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				if conns.Add(1) > 1 {
					tc.second(r, c)
					return
				}
				if !optneg(r, c, offeredActions, onlyEOM) || !untilEOB(r) {
					return
				}
				c.Write(appendPacket(nil, repAccept, nil))
				readPacket(r) // QUIT
			})
			q := &fakeQueue{}
			d := dial(t, startMTA(t, q, milterConf(addr, "")))
			d.cmd("EHLO client.test", "250")
			if got := d.send("a@sender.test", []string{"u@example.test"}, msg); !strings.HasPrefix(got, "250") {
				t.Fatalf("first message: %q", got)
			}
			d.cmd("MAIL FROM:<a@sender.test>", tc.want)
			if tc.name == "reject at connect" {
				// That connection is over; the next MAIL asks anew.
				d.cmd("MAIL FROM:<a@sender.test>", tc.want)
				if n := conns.Load(); n != 3 {
					t.Errorf("%d milter connections, want 3", n)
				}
			}
			if q.count() != 1 {
				t.Fatalf("queued %d", q.count())
			}
		})
	}
}
