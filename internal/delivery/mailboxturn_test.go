package delivery

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// turnLMTP is an LMTP server that counts, per recipient mailbox, the
// transactions in flight at once (from its accepted RCPT to the replies
// after the final dot), holding each final dot for hold.
type turnLMTP struct {
	hold time.Duration
	// listen is its address (127.0.0.216:0 when empty); a transaction
	// with gateAddr among its recipients holds its final dot until gate
	// is closed.
	listen   string
	gate     chan struct{}
	gateAddr string

	mu       sync.Mutex
	inFlight map[string]int
	most     map[string]int
	sessions int // open at once, most
	open     int
	stored   map[string]int
}

func (s *turnLMTP) start(t *testing.T) string {
	t.Helper()
	listen := s.listen
	if listen == "" {
		listen = "127.0.0.216:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.inFlight, s.most, s.stored = map[string]int{}, map[string]int{}, map[string]int{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return ln.Addr().String()
}

func (s *turnLMTP) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.open++
	s.sessions = max(s.sessions, s.open)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.open--; s.mu.Unlock() }()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	w := func(l string) { c.Write([]byte(l + "\r\n")) }
	w("220 lmtp ready")
	var rcpts []string
	release := func() {
		s.mu.Lock()
		for _, a := range rcpts {
			s.inFlight[a]--
		}
		s.mu.Unlock()
		rcpts = nil
	}
	defer release()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "LHLO"):
			w("250-lmtp")
			w("250 PIPELINING")
		case strings.HasPrefix(cmd, "MAIL"):
			w("250 2.1.0 ok")
		case strings.HasPrefix(cmd, "RCPT"):
			// Dovecot's user: case folded, its +detail removed.
			a := strings.ToLower(strings.Trim(strings.TrimSpace(line)[len("RCPT TO:"):], "<> \r\n"))
			if at, plus := strings.IndexByte(a, '@'), strings.IndexByte(a, '+'); plus > 0 && plus < at {
				a = a[:plus] + a[at:]
			}
			if strings.HasPrefix(a, "bad") {
				// No such user; DATA is opened all the same (354),
				// as rt39's server did where RFC 2033 wants 503.
				w("550 5.1.1 no such mailbox")
				continue
			}
			rcpts = append(rcpts, a)
			s.mu.Lock()
			s.inFlight[a]++
			s.most[a] = max(s.most[a], s.inFlight[a])
			s.mu.Unlock()
			w("250 2.1.5 ok")
		case cmd == "DATA":
			w("354 go")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			time.Sleep(s.hold)
			if s.gate != nil && slices.Contains(rcpts, s.gateAddr) {
				select {
				case <-s.gate:
				case <-time.After(60 * time.Second):
				}
			}
			s.mu.Lock()
			for _, a := range rcpts {
				s.stored[a]++
			}
			s.mu.Unlock()
			n := len(rcpts)
			release() // stored: the transaction is over before its replies go
			for range n {
				w("250 2.0.0 stored")
			}
		case cmd == "RSET":
			release()
			w("250 ok")
		case cmd == "QUIT":
			w("221 bye")
			return
		default:
			w("500 what")
		}
	}
}

// SPEC SR-11, Q-6: umbra never has two LMTP transactions in flight to
// one recipient mailbox (Dovecot's duplicate database, which the shipped
// rule keeps a copy repeated after a kill -9 out of the mailbox with,
// loses records under concurrent deliveries to one user). Twenty
// messages to the same two mailboxes (one of them under another case and
// a +detail) delivered at once: every recipient delivered, never two
// transactions at once into one mailbox, and the deliveries still run
// on several sessions at once (a waiting recipient does not hold the
// destination).
func TestSR11OneLMTPTransactionPerMailboxAtATime(t *testing.T) {
	s := &turnLMTP{hold: 30 * time.Millisecond}
	addr := s.start(t)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: addr})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other := "v@example.test"
			if i%2 == 1 {
				other = "V+list@example.test"
			}
			m := message("u@example.test", other, "w"+string(rune('a'+i))+"@example.test")
			m.ID = queue.ID(0xBEE0 + i)
			res := d.Deliver(context.Background(), m, body, all(m))
			for _, r := range res {
				if r.Outcome != queue.DeliveredOK {
					mu.Lock()
					bad = append(bad, m.Rcpts[r.Rcpt].Addr+": "+r.Reply)
					mu.Unlock()
				}
			}
			if len(res) != 3 {
				mu.Lock()
				bad = append(bad, "results "+string(rune('0'+len(res))))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("not delivered: %v", bad)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.most["u@example.test"] != 1 || s.most["v@example.test"] != 1 {
		t.Errorf("transactions in flight at once per mailbox: %v, want 1", s.most)
	}
	if s.stored["u@example.test"] != 20 || s.stored["v@example.test"] != 20 {
		t.Errorf("stored %v, want 20 each", s.stored)
	}
	if s.sessions < 2 {
		t.Errorf("at most %d session at once: the mailboxes' turns narrowed the destination", s.sessions)
	}
}
