package delivery

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rrrcpt44IP is the loopback address of the rrrcpt44 tests (ports
// 15000-15499).
const rrrcpt44IP = "127.0.0.190"

// resetFirstAtMail is a front of target whose first connection is reset
// (both sides) when its client sends a MAIL — a pooled session the peer
// dropped, found broken at the push — and whose later connections are
// passed on whole.
func resetFirstAtMail(t *testing.T, addr, target string) {
	t.Helper()
	var n atomic.Int32
	var mu sync.Mutex
	var ups []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range ups {
			u.Close()
		}
	})
	testsupport.Serve(t, addr, func(c net.Conn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		mu.Lock()
		ups = append(ups, u)
		mu.Unlock()
		first := n.Add(1) == 1
		go func() {
			buf := make([]byte, 32<<10)
			for {
				k, err := c.Read(buf)
				if k > 0 {
					if first && bytes.Contains(buf[:k], []byte("MAIL FROM")) {
						for _, x := range []net.Conn{c, u} {
							if tc, ok := x.(*net.TCPConn); ok {
								tc.SetLinger(0) // the close sends a reset
							}
							x.Close()
						}
						return
					}
					if _, werr := u.Write(buf[:k]); werr != nil {
						return
					}
				}
				if err != nil {
					u.Close()
					return
				}
			}
		}()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				k, err := u.Read(buf)
				if k > 0 {
					if _, werr := c.Write(buf[:k]); werr != nil {
						return
					}
				}
				if err != nil {
					c.Close()
					return
				}
			}
		}()
	})
}

// SR-17 (rrrcpt44, rcpt44 item 3's class): a push whose first session
// broke (reset at MAIL: nothing of the copy sent) and whose second
// session, to the same server, takes the copy and then never answers
// ran out of its own bound — the server hangs, as surely as when the
// first try hung. It is marked so (hungLately): the discards owed to it
// are not handed before the next 250s, each of which would wait
// receiptDiscardPush for it. Before, only the first try's timeout
// marked it.
func TestSR17SecondSessionPushPastItsBoundMarksServerHung(t *testing.T) {
	defer func(d time.Duration) { receiptTry = d }(receiptTry)
	receiptTry = time.Second // the second session's silence runs it out
	b := testsupport.StartHub(t, testsupport.AddrInRange(t, rrrcpt44IP, 15000, 50), testsupport.HubScript{HangAtMail: true})
	front := testsupport.AddrInRange(t, rrrcpt44IP, 15050, 50)
	resetFirstAtMail(t, front, b.Addr())
	r, q, m := recopyWaiting(t, "7", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: front})
	srv, err := r.Recopy(context.Background(), q, m.ID, nil)
	if srv != "" || err == nil {
		t.Fatalf("made again on %q (%v); want no server: hub-b's pushes failed", srv, err)
	}
	if b.Mails.Load() == 0 {
		t.Fatal("hub-b never read the second session's MAIL: the test proves nothing")
	}
	if !strings.Contains(err.Error(), "hub-b: not answered within") {
		t.Fatalf("error %v; want hub-b's second session past its bound", err)
	}
	if !r.hungLately("hub-b") {
		t.Error("hub-b's second session ran out of its bound, and hub-b is not marked as a server that hung")
	}
}

// goneAtPushing is a holders' queue whose message leaves this server
// (an operator's removal, an attempt's end) just before each push's
// commit (RecopyPushingNamed): after the made-again pass read it as needing
// its copy, while its session to the next candidate was being opened.
type goneAtPushing struct{ *queue.Manager }

func (g goneAtPushing) RecopyPushingNamed(id queue.ID, server string) (uint64, bool, error) {
	if err := g.RemoveMessage(context.Background(), id, false); err != nil && !errors.Is(err, queue.ErrNotFound) {
		return 0, false, err
	}
	return g.Manager.RecopyPushingNamed(id, server)
}

// SR-17 (rrrcpt44 attack (a)): a message that left this server between
// the made-again pass's reading of it and its push's commit needs no
// copy, and its push's commit names no server that may hold one (there
// is no mark left to keep it in). A push made all the same, which got
// no reply after its data (hub-b closes the session then), left hub-b
// holding a copy nothing here owes a discard for: this server lost for
// good, hub-b takes over and delivers mail that left long ago. Every
// server that read a copy's data is owed its discard.
func TestSR17RecopyOfMessageGoneAtItsPushLeavesNoUnowedCopy(t *testing.T) {
	b := testsupport.StartHub(t, testsupport.AddrInRange(t, rrrcpt44IP, 15100, 50), testsupport.HubScript{Fault: testsupport.FaultDotEOF})
	r, q, m := recopyWaiting(t, "8", routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.Addr()})
	srv, err := r.Recopy(context.Background(), goneAtPushing{q}, m.ID, nil)
	if srv != "" {
		t.Fatalf("made again on %q (%v) though the message left", srv, err)
	}
	owed, oerr := q.OwedDiscardServers()
	if oerr != nil {
		t.Fatal(oerr)
	}
	if b.Copies.Load() > 0 && !slices.Contains(owed, "hub-b") {
		t.Errorf("hub-b read %d copies of a message that left (pass: %v), and is owed no discard (owed: %v)", b.Copies.Load(), err, owed)
	}
}
