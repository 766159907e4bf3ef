package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// verdictHop is a next hop that refuses the recipients of refuse.test
// (550 at RCPT), holds its reply to the end of the data of hang.test's
// while hang is set (a session hung for data_timeout) and takes
// everything else,
// counting per recipient what it took and the DSNs among it ("Action:").
type verdictHop struct {
	hang  atomic.Bool
	mu    sync.Mutex
	hung  int            // sessions of hang.test's that reached the end of the data while hang was set
	took  map[string]int // "rcpt" -> copies taken; "rcpt action" for a DSN
	conns []net.Conn
}

func startVerdictHop(t *testing.T, addrs ...string) *verdictHop {
	t.Helper()
	h := &verdictHop{took: map[string]int{}}
	h.hang.Store(true)
	for _, addr := range addrs {
		testsupport.Serve(t, addr, func(c net.Conn) {
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			go h.serve(c)
		})
	}
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return h
}

func (h *verdictHop) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 verdict.test ESMTP")
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			say("250-verdict.test\r\n250 8BITMIME")
		case strings.HasPrefix(verb, "MAIL"):
			rcpts = nil
			say("250 ok")
		case strings.HasPrefix(verb, "RCPT"):
			a := strings.ToLower(strings.Trim(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), "<>"))
			if strings.HasSuffix(a, "@refuse.test") {
				say("550 5.1.1 no such user here")
				continue
			}
			rcpts = append(rcpts, a)
			say("250 ok")
		case verb == "DATA":
			say("354 go ahead")
			data, err := testsupport.ReadData(r)
			if err != nil {
				return
			}
			if h.hang.Load() && slices.ContainsFunc(rcpts, func(a string) bool { return strings.HasSuffix(a, "@hang.test") }) {
				h.mu.Lock()
				h.hung++
				h.mu.Unlock()
				io := make([]byte, 1)
				c.Read(io) // never answered: until the client goes away
				return
			}
			h.mu.Lock()
			for _, a := range rcpts {
				h.took[a]++
				if _, act, ok := strings.Cut(data, "Action: "); ok {
					act, _, _ = strings.Cut(act, "\n")
					h.took[a+" "+strings.TrimSpace(act)]++
				}
			}
			h.mu.Unlock()
			say("250 2.0.0 queued")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (h *verdictHop) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.took[key]
}

func (h *verdictHop) sessionsHung() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hung
}

// SPEC Q-3, SR-10 (sched32): a failure does not wait for a hung job of
// its attempt, and a kill -9 after its commit repeats neither the DSN
// nor loses the hung recipient. hub takes a message for a@refuse.test
// (550 at RCPT) and b@hang.test (its next hop holds the reply to the end
// of the data): the failure DSN reaches the sender while b@'s session
// still hangs. hub is killed -9 then; restarted, it attempts b@ again
// (the next hop answers now) and not a@: b@ is delivered once, the
// sender has one failure DSN. Seen to fail first: the DSN waited for
// b@'s session (data_timeout, 10 min).
func TestKill9AfterEarlyFailureDSNSendsItOnce(t *testing.T) {
	dir := t.TempDir()
	listen, hopAddr, refuseAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	hop := startVerdictHop(t, hopAddr, refuseAddr) // two destinations: one job each
	cfg := fmt.Sprintf(`server: {name: hub.e2e.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1s], retry_jitter: 0.1}
receive_connectors:
  - name: loopback
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
    max_acknowledgement_delay: 0s
send_connectors:
  - {name: refuse, address_spaces: [{domain: refuse.test, cost: 1}], smart_hosts: [%q], tls: none}
  - {name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: [%q], tls: none}
`, filepath.Join(dir, "data"), listen, refuseAddr, hopAddr)
	path := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	u := startUmbra(t, path, listen)
	u.dumpLogIfFailed()
	msg := "From: s@example.org\r\nTo: a@refuse.test, b@hang.test\r\nSubject: fail-beside-hung\r\n\r\nhello\r\n"
	if r := rawSend(t, listen, "s@example.org", []string{"a@refuse.test", "b@hang.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %q", r)
	}
	waitCond(t, "b@'s session hung at the end of its data", 30*time.Second, func() bool { return hop.sessionsHung() == 1 })
	waitCond(t, "a@'s failure DSN at the sender while b@'s session hangs", 30*time.Second, func() bool {
		return hop.count("s@example.org failed") == 1
	})
	if hop.count("b@hang.test") != 0 {
		t.Fatal("b@ delivered before the kill")
	}
	u.kill()              // b@'s job still hangs
	hop.hang.Store(false) // and its next attempt is answered
	u = startUmbra(t, path, listen)
	u.dumpLogIfFailed()
	waitCond(t, "the restarted hub's delivery of b@", 30*time.Second, func() bool { return hop.count("b@hang.test") >= 1 })
	time.Sleep(2 * time.Second) // a second DSN or delivery would have come by now
	if n := hop.count("b@hang.test"); n != 1 {
		t.Errorf("b@hang.test delivered %d times, want once", n)
	}
	if n, all := hop.count("s@example.org failed"), hop.count("s@example.org"); n != 1 || all != 1 {
		t.Errorf("the sender got %d failure DSNs (%d messages), want one", n, all)
	}
}
