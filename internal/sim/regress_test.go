package sim

import (
	"context"
	"math/rand/v2"
	"net/textproto"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

// burst is n messages to hub for rcpts, one a second from at.
func burst(hub string, at time.Duration, n int, wait bool, rcpts ...string) []Msg {
	var ms []Msg
	for i := range n {
		ms = append(ms, Msg{At: at + time.Duration(i)*time.Second, Hub: hub, Rcpts: rcpts, Wait: wait})
	}
	return ms
}

// regressions are the defects of issue 19 the simulation can express,
// as named scenarios (their seed only picks latencies).
var regressions = []Scenario{
	// 1 and 9: a1 keeps shadow copies for b1 (which cannot reach mbx-b);
	// a1 restarts, then b1 loses its disk and starts with a new database
	// id. a1 must see the new id and resubmit: nothing lost, and no copy
	// dropped at expiry without a DSN.
	{Name: "d1-shadow-restart-then-primary-disk-loss", Seed: 101,
		Traffic: burst("a1", sec(1), 6, true, "u1@b.test"),
		Faults: []Fault{{Kind: "partition", Target: "b1|mbx-b", At: sec(0), For: sec(120)},
			{Kind: "crash", Target: "a1", At: sec(20), For: sec(5)},
			{Kind: "disk-loss", Target: "b1", At: sec(40), For: sec(5)}}},
	// 9: the primary is gone longer than message_expiration: the shadow
	// copies are taken over and bounce with a DSN (expired), or are
	// delivered; never dropped.
	{Name: "d9-primary-gone-past-expiration", Seed: 109,
		Traffic: burst("a1", sec(1), 4, true, "u1@b.test", "u1@a.test"),
		Faults:  []Fault{{Kind: "disk-loss", Target: "b1", At: sec(8), For: 12 * time.Minute}}},
	// 2: a partition long enough for a takeover of the first copies, then
	// more copies, then the primary dies for good: every copy is taken
	// over (the primary stays watched).
	{Name: "d2-primary-watched-after-partial-takeover", Seed: 102,
		Traffic: append(burst("a1", sec(1), 3, true, "u1@b.test"), burst("a1", sec(40), 3, false, "u2@b.test")...),
		Faults: []Fault{{Kind: "partition", Target: "a1|b1", At: sec(5), For: sec(40)},
			{Kind: "partition", Target: "b1|mbx-b", At: sec(6), For: sec(200)},
			{Kind: "disk-loss", Target: "b1", At: sec(60), For: sec(30)}}},
	// 3 and 4: partitions and crashes around attempts and discard
	// notifications in flight, for mail through two hops.
	{Name: "d3-d4-takeover-during-attempt", Seed: 103,
		Traffic: burst("a2", sec(1), 8, true, "u1@b.test", "x@ext.test"),
		Faults: []Fault{{Kind: "partition", Target: "a2|b1", At: sec(3), For: sec(25)},
			{Kind: "crash", Target: "b1", At: sec(30), For: sec(3)}}},
	// 5: two hubs (a1, a2) deliver into db-a; the one b1 relayed to dies
	// after delivering, b1 takes over and the other delivers again: the
	// mailbox keeps one copy.
	{Name: "d5-two-hubs-one-database", Seed: 105,
		Traffic: burst("b1", sec(1), 8, false, "u1@a.test", "u2@a.test"),
		Faults:  []Fault{{Kind: "crash", Target: "a1", At: sec(4), For: sec(60)}}},
	{Name: "d5-two-hubs-one-database-a2", Seed: 115,
		Traffic: burst("b1", sec(1), 8, false, "u1@a.test"),
		Faults:  []Fault{{Kind: "disk-loss", Target: "a2", At: sec(5), For: sec(30)}}},
	// 6: two different messages with one Message-ID to one recipient
	// (and a message without one): every one is delivered.
	{Name: "d6-same-message-id-two-messages", Seed: 106,
		Traffic: []Msg{{At: sec(1), Hub: "a1", Rcpts: []string{"u1@b.test"}, MessageID: "<same@ext.test>"},
			{At: sec(2), Hub: "a2", Rcpts: []string{"u1@b.test"}, MessageID: "<same@ext.test>"},
			{At: sec(3), Hub: "b1", Rcpts: []string{"u1@b.test"}, MessageID: "<same@ext.test>"},
			{At: sec(4), Hub: "a1", Rcpts: []string{"u1@b.test"}}, {At: sec(5), Hub: "a1", Rcpts: []string{"u1@b.test"}}}},
	// Found by the simulation: a primary that failed a recipient made the
	// DSN and sent the shadow server its discard in the same breath; the
	// DSN, waiting here for its own route, was then the only trace of the
	// failure, and the primary's disk loss lost it. The DSN now carries
	// the discard and owes it once it has left.
	{Name: "dsn-lost-with-primary-disk", Seed: 120,
		Traffic: []Msg{{At: sec(1), Hub: "a1", From: "sender@b.test", Rcpts: []string{"refuse1@ext.test"}, Wait: true},
			{At: sec(2), Hub: "a2", From: "sender@b.test", Rcpts: []string{"refuse2@ext.test", "u1@a.test"}, Wait: true}},
		Faults: []Fault{{Kind: "partition", Target: "b1|mbx-b", At: 0, For: sec(60)},
			{Kind: "disk-loss", Target: "b1", At: sec(10), For: sec(5)}}},
	// 8: relayed recipients get no success DSN (the checker flags any
	// DSN action other than failed or delayed).
	{Name: "d8-no-success-dsn-for-relayed", Seed: 108,
		Traffic: burst("a1", sec(1), 4, true, "x@ext.test", "u1@b.test")},
}

// TestSimRegressions runs the named scenarios of issue 19's defects.
// Defects 7 and 10 have their own tests below.
func TestSimRegressions(t *testing.T) {
	for _, sc := range regressions {
		t.Run(sc.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				out, err := Run(t.TempDir(), sc, simLog())
				if err != nil {
					t.Fatal(err)
				}
				if out.Acked == 0 {
					t.Fatal("nothing was acknowledged: the scenario tests nothing")
				}
				if out.Failed() {
					t.Errorf("%v", out.Problems)
				}
				t.Logf("acked %d delivered %d bounced %d suppressed at mailbox %d external duplicates %d",
					out.Acked, out.Delivered, out.Bounced, out.SuppressedAtMailbox, out.DupExternal)
			})
		})
	}
}

// TestSimSeesLoss is the checker's own test: without shadow redundancy,
// a hub that acknowledged mail it could not pass on yet and then lost
// its disk loses that mail, and the checker must say so.
func TestSimSeesLoss(t *testing.T) {
	sc := Scenario{Name: "control-no-shadow", Seed: 1, NoShadow: true,
		Traffic: burst("a1", sec(1), 4, true, "u1@b.test"),
		Faults: []Fault{{Kind: "partition", Target: "a1|b1", At: 0, For: sec(60)},
			{Kind: "disk-loss", Target: "a1", At: sec(20), For: sec(5)}}}
	synctest.Test(t, func(t *testing.T) {
		out, err := Run(t.TempDir(), sc, simLog())
		if err != nil {
			t.Fatal(err)
		}
		if out.Lost != 4 || !out.Failed() {
			t.Fatalf("want 4 lost, got %+v", out)
		}
	})
}

// TestSimNoPollingStorm is defect 7: senders wait for delayed
// acknowledgement at a1 while the primary b1 cannot deliver for a
// minute. Confirmation must not be polled with a new session every few
// milliseconds: a1 opens at most a few connections a second to b1.
func TestSimNoPollingStorm(t *testing.T) {
	sc := Scenario{Name: "d7-polling-storm", Seed: 107,
		Traffic: burst("a1", sec(1), 20, true, "u1@b.test"),
		Faults:  []Fault{{Kind: "partition", Target: "b1|mbx-b", At: 0, For: sec(60)}}}
	synctest.Test(t, func(t *testing.T) {
		out, err := Run(t.TempDir(), sc, simLog())
		if err != nil {
			t.Fatal(err)
		}
		if out.Failed() || out.Delivered != 20 {
			t.Fatalf("%+v", out)
		}
		// The run lasts the minute of the fault and the settling after it
		// (at least 20 s + 30 s); 60 dials is one a second.
		if d := out.Dials["a1>b1"]; d > 60 {
			t.Errorf("a1 opened %d connections to b1 (a polling storm)", d)
		}
		t.Logf("dials: %v", out.Dials)
	})
}

// TestSimSpoofedServerID is defect 10: a client outside the organisation
// on the externally secured connector claims to be a1 in XSHADOW to
// collect a1's discard notifications; the server id is bound to the
// topology's address of a1, so it is refused — while a1 itself, from its
// own address, is taken.
func TestSimSpoofedServerID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		org, err := NewOrg(t.TempDir(), rand.New(rand.NewPCG(110, 1)), simLog(), true)
		if err != nil {
			t.Fatal(err)
		}
		defer org.Close()
		for _, c := range []struct{ from, want string }{{clientIP, "550"}, {"10.1.0.2", "550"}, {"10.1.0.1", "250"}} {
			nc, err := org.Net.Dial(context.Background(), c.from, "10.2.0.1:25")
			if err != nil {
				t.Fatal(err)
			}
			tp := textproto.NewConn(nc)
			if _, _, err := tp.ReadResponse(220); err != nil {
				t.Fatal(err)
			}
			tp.PrintfLine("EHLO x")
			if _, _, err := tp.ReadResponse(250); err != nil {
				t.Fatal(err)
			}
			tp.PrintfLine("XSHADOW a1")
			code, msg, _ := tp.ReadResponse(0)
			if got := strconv.Itoa(code); got != c.want {
				t.Errorf("XSHADOW a1 from %s: %d %s, want %s", c.from, code, msg, c.want)
			}
			tp.PrintfLine("QUIT")
			tp.ReadResponse(221)
			tp.Close()
		}
	})
}
