package delivery

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
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

// Q-6 (rddeliv47): a relay inside the organisation through its shadow
// session records its results against the server's name ("hub-b", not
// "name[ip]:port": the session's hop is the primary it presents), and
// that server's own reply — "451 4.4.1 no host reachable" about the
// hosts beyond it, "451 4.4.2 too busy" — is its answer in a session it
// kept (Answered). Read back from the stored reply, next hop and queue
// after a restart (queue.AnsweredReply) it must say the same: before,
// only a next hop in "name[ip]:port" form could be read as having
// answered, so after a restart the route's destination was shown
// failing on its hub's own deferrals. umbra's words about that session
// name the server and read as no answer, as they did.
func TestQ6OrgServersOwnReplyReadBackAsAnswered(t *testing.T) {
	for _, tc := range []struct {
		mail     string // the hub's reply to MAIL; "" closes the connection
		answered bool
	}{
		{"451 4.4.1 no host reachable", true},
		{"451 4.4.2 too busy, try later", true},
		{"421 4.3.2 shutting down", false},
		{"503 5.5.1 Error: bad sequence of commands", true},
		{"", false},
	} {
		t.Run(tc.mail, func(t *testing.T) {
			addr := scriptedPeer(t, "250-hub-b.test\r\n250-XSHADOW 20\r\n250 PIPELINING\r\n", func(cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "XSHADOW"):
					return "250 db-b\r\n"
				case strings.HasPrefix(cmd, "MAIL") && tc.mail == "":
					return ""
				case strings.HasPrefix(cmd, "MAIL"):
					return tc.mail + "\r\n"
				case strings.HasPrefix(cmd, "QUIT"):
					return "221 bye\r\n"
				}
				return "250 ok\r\n"
			})
			d := hubBDeliverer(t, addr)
			d.st.Load().cfg.Shadows = &shadowRecorder{}
			m := message("u@b.test")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != queue.Deferred {
				t.Fatalf("results %+v, want u deferred", res)
			}
			r := res[0]
			if r.NextHop != "hub-b" {
				t.Fatalf("recorded against %q, want the server's name (the test's premise)", r.NextHop)
			}
			if r.Answered != tc.answered {
				t.Errorf("%q: answered %v, want %v", r.Reply, r.Answered, tc.answered)
			}
			if got := queue.AnsweredReply(r.Reply, r.NextHop, r.Queue); got != r.Answered {
				t.Errorf("%q against %s in queue %s read back: answered %v, the result said %v", r.Reply, r.NextHop, r.Queue, got, r.Answered)
			}
		})
	}
}

// hubBDeliverer is hub-a's deliverer (shadow server id hub-a), closed
// when the test ends, in a topology of site a (hub-a) and site b (hub-b
// at addr, and mbx-b holding b.test's database): mail for b.test is
// relayed to hub-b through its shadow session. The caller sets the
// shadow recorder.
func hubBDeliverer(t *testing.T, addr string) *Deliverer {
	t.Helper()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr},
			{Name: "mbx-b", Role: routing.RoleMailbox, Site: "b", Address: "127.0.0.3:1"}},
		Databases:  []routing.Database{{Name: "db-b", Server: "mbx-b"}},
		Recipients: []routing.RecipientMap{{Match: "b.test", Database: "db-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "b.test", Type: routing.Authoritative}}, nil)
	d, err := New(Config{Hostname: "hub-a", Routing: table, Topology: topo, LocalServer: "hub-a",
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.st.Load().cfg.ShadowServerID = "hub-a"
	return d
}
