package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// roundsHop is a next hop that takes at most two recipients per
// transaction and refuses the others at RCPT with 452 4.5.3 (too many
// recipients, RFC 5321 §4.5.3.1.10). While hang is set it never answers
// the end of the data of a session's second transaction; it refuses a
// recipient bad@ at RCPT for good (550). It counts the
// recipients of each message it answered 250 at the end of the data.
type roundsHop struct {
	hang atomic.Bool

	mu        sync.Mutex
	delivered map[string]int
	hung      int
	conns     []net.Conn
}

func startRoundsHop(t *testing.T, addr string) *roundsHop {
	t.Helper()
	h := &roundsHop{delivered: map[string]int{}}
	h.hang.Store(true)
	testsupport.Serve(t, addr, func(c net.Conn) {
		h.mu.Lock()
		h.conns = append(h.conns, c)
		h.mu.Unlock()
		go h.serve(c)
	})
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return h
}

func (h *roundsHop) serve(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 rounds.test ESMTP")
	var rcpts []string
	data, transactions := false, 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if data {
			if line != "." {
				continue
			}
			data = false
			transactions++
			if transactions == 2 && h.hang.Load() {
				h.mu.Lock()
				h.hung++
				h.mu.Unlock()
				continue // never answered: the session hangs until the kill
			}
			h.mu.Lock()
			for _, a := range rcpts {
				h.delivered[a]++
			}
			h.mu.Unlock()
			rcpts = nil
			say("250 2.0.0 queued")
			continue
		}
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			say("250-rounds.test\r\n250-8BITMIME\r\n250 PIPELINING")
		case strings.HasPrefix(verb, "MAIL"):
			rcpts = nil
			say("250 2.1.0 ok")
		case strings.HasPrefix(verb, "RCPT"):
			if len(rcpts) == 2 {
				say("452 4.5.3 too many recipients")
				continue
			}
			a := strings.ToLower(line[strings.Index(line, "<")+1 : strings.LastIndex(line, ">")])
			if strings.HasPrefix(a, "bad@") {
				say("550 5.1.1 no such user")
				continue
			}
			rcpts = append(rcpts, a)
			say("250 2.1.5 ok")
		case strings.HasPrefix(verb, "DATA"):
			data = true
			say("354 go ahead")
		case strings.HasPrefix(verb, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (h *roundsHop) counts() (map[string]int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.delivered))
	for a, n := range h.delivered {
		out[a] = n
	}
	return out, h.hung
}

// Q-5 (RFC 5321 §4.5.3.1.10; delivery reportRound): a next hop that
// takes two recipients per transaction gets four in two transactions of
// one session. The first round's recipients are committed before the
// second transaction begins: a kill -9 while the second's end of the
// data goes unanswered leaves them done, and the restarted server sends
// only the second round's. Each recipient reaches the next hop once.
func TestQ5Kill9BetweenRecipientRoundsSendsEachOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, hopAddr := "127.0.0.170:10110", "127.0.0.170:10111"
	hop := startRoundsHop(t, hopAddr)
	cfg := relayConfig(t, dir, listen, hopAddr)
	editConfig(t, cfg, "transport:\n", "transport:\n  data_timeout: 10m\n")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	rcpts := []string{"a@rounds.test", "b@rounds.test", "c@rounds.test", "d@rounds.test"}
	msg := "From: s@example.org\r\nTo: a@rounds.test\r\nSubject: rounds\r\n\r\nfour recipients, two per transaction\r\n"
	if r := rawSend(t, listen, "s@example.org", rcpts, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %q", r)
	}
	waitCond(t, "the first round delivered and the second's data unanswered", 60*time.Second, func() bool {
		got, hung := hop.counts()
		return hung == 1 && got["a@rounds.test"] == 1 && got["b@rounds.test"] == 1
	})
	d.kill()

	hop.hang.Store(false)
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	waitCond(t, "the second round's recipients delivered after the restart", 60*time.Second, func() bool {
		got, _ := hop.counts()
		return got["c@rounds.test"] >= 1 && got["d@rounds.test"] >= 1
	})
	time.Sleep(2 * time.Second) // a second hand-on of a@ or b@ (retry_schedule 1s) would show by now
	got, _ := hop.counts()
	for _, a := range rcpts {
		if got[a] != 1 {
			t.Errorf("%s reached the next hop %d times, want once (all: %v)", a, got[a], got)
		}
	}
}

// Q-5, SR-9 (delivery reportRound; queue jobcommit.go): a recipient the
// first round's next hop refused for good gets one failure DSN — made
// with the round's commit, not again by the attempt's end — and every
// other recipient reaches the next hop once, over two transactions.
func TestQ5RecipientRoundFailureDSNOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, hopAddr := "127.0.0.170:10112", "127.0.0.170:10113"
	hop := startRoundsHop(t, hopAddr)
	hop.hang.Store(false)
	cfg := relayConfig(t, dir, listen, hopAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	rcpts := []string{"a@rounds.test", "bad@rounds.test", "b@rounds.test", "c@rounds.test", "d@rounds.test"}
	msg := "From: s@example.org\r\nTo: a@rounds.test\r\nSubject: rounds\r\n\r\none refused, four in two transactions\r\n"
	if r := rawSend(t, listen, "s@example.org", rcpts, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %q", r)
	}
	waitCond(t, "every recipient delivered and the failure DSN sent", 60*time.Second, func() bool {
		got, _ := hop.counts()
		return got["c@rounds.test"] >= 1 && got["d@rounds.test"] >= 1 && got["s@example.org"] >= 1
	})
	time.Sleep(2 * time.Second) // a second DSN, or a second hand-on (retry_schedule 1s), would show by now
	got, _ := hop.counts()
	for _, a := range []string{"a@rounds.test", "b@rounds.test", "c@rounds.test", "d@rounds.test", "s@example.org"} {
		if got[a] != 1 {
			t.Errorf("%s reached the next hop %d times, want once (all: %v)", a, got[a], got)
		}
	}
}
