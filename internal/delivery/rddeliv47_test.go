package delivery

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// SMTP-1, Q-5 (rddeliv47): a fresh session that answers one recipient
// out of step beside another it accepted and took the message for —
// the accepted one is relayed there, the other goes on to the next MX
// host in the same attempt. That result stands: it is committed before
// the next host is tried, as a round of "too many recipients" is before
// the next round (TestQ5TooManyRecipientsRoundCommitsBeforeNextRound).
// Before, it waited in memory for the whole attempt: a next MX host
// that holds its greeting (up to command_timeout per host, several
// hosts) kept the relayed recipient pending on disk, and a kill -9 then
// sent the message to the first host again at the next start.
func TestSMTP1OutOfStepNextHostCommitsTheAcceptedFirst(t *testing.T) {
	for k, pipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			first := testsupport.Listen(t, fmt.Sprintf("127.0.0.199:%d", 38950+k))
			a := startStepServerOn(t, first, pipelining, func(conn, txn int, cmd string) string { return "" })
			a.rcptAnswer = func(conn, txn int, addr string) string {
				if addr == "c@example.net" {
					return "503 5.5.1 Error: bad sequence of commands"
				}
				return ""
			}
			// The second MX host takes the connection and never greets
			// until the test ends.
			hung := testsupport.Listen(t, fmt.Sprintf("127.0.0.200:%d", 38950+k))
			accepted := make(chan net.Conn, 4)
			go func() {
				for {
					c, err := hung.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			closeHung := func() {
				hung.Close()
				for {
					select {
					case c := <-accepted:
						c.Close()
					default:
						return
					}
				}
			}
			dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx1.example.net.", Pref: 10}, {Host: "mx2.example.net.", Pref: 20}}},
				hosts: map[string][]string{"mx1.example.net": {"127.0.0.199"}, "mx2.example.net": {"127.0.0.200"}}}
			conn := mxConnector(portOf(first.Addr().String()))
			conn.TLS, conn.Port = config.TLSNone, 38950+k
			d := newDeliverer(t, dns, config.Mailbox{}, conn)
			d.st.Load().cfg.CommandTimeout = time.Minute // the greeting held past the test's bound
			store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := queue.NewManager(store, d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 4, Clock: clk,
				RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			q.Start(ctx)
			t.Cleanup(func() {
				cancel()
				closeHung()
				d.Close()
				q.Wait()
				store.Close()
			})
			m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Arrived: clk.Now(),
				Rcpts: []queue.Recipient{{Addr: "b@example.net"}, {Addr: "c@example.net"}}}
			if err := q.Submit(ctx, m, []byte("Subject: x\r\n\r\nhello\r\n")); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			select {
			case c := <-accepted:
				accepted <- c // closed at the end
			case <-time.After(time.Until(deadline)):
				t.Fatal("the next MX host was never tried")
			}
			if _, msgs := a.counts(); msgs != 1 {
				t.Fatalf("the first host took %d messages, want 1 (b's)", msgs)
			}
			// The next MX host holds its greeting: what a kill -9 now
			// would leave on disk.
			var b queue.RcptStatus
			for time.Now().Before(deadline) {
				got, err := q.Message(m.ID)
				if err != nil {
					t.Fatal(err)
				}
				if b = got.Rcpts[0].Status; b != queue.Pending {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if b == queue.Pending {
				t.Fatalf("while the next MX host is tried for c, b (relayed by the first host) is pending on disk: a restart would send it to the first host again")
			}
		})
	}
}
