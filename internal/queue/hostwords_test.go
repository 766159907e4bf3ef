package queue

import (
	"errors"
	"testing"
	"time"
)

// Q-3, OPS-5 (errtext44): each kind of umbra's words on an attempt,
// built with the constructor delivery writes it with, is read back by
// the parsers the DSN, the delay notice and the map read it with — the
// writer's text cannot change without its reader. The same words naming
// another host than the recipient's next hop are that host's reply (a
// relay's about a host beyond it): neither umbra's nor "not reached".
func TestQ3HostWordsReadBackAsWritten(t *testing.T) {
	const hop, other, dest = "mx1.example.net[192.0.2.1]:25", "far.example[192.0.2.9]:25", "mx:example.net"
	refused := errors.New("dial tcp 192.0.2.1:25: connect: connection refused")
	timeout := errors.New("dial tcp 192.0.2.1:25: i/o timeout")
	for _, c := range []struct {
		name, reply, nextHop string
		notReached           bool
		why                  string // hostUnreached's cause ("" none)
		missing              string // hostStopped's missing reply ("" not stopped)
	}{
		{"refused connection", ConnectFailedReply(hop, refused), hop, true, "connection refused", ""},
		{"connect timeout", ConnectFailedReply(hop, timeout), hop, true, "connection timed out", ""},
		{"no host reachable", NoHostReachableReply, dest, true, "", ""},
		{"no server of the route", NoServerAnsweredReply, "site:west", true, "", ""},
		{"no host left", NoHostLeftReply(dest), dest, true, "", ""},
		{"no server in a site", NoServerInSiteReply("west"), "site:west", true, "", ""},
		{"REQUIRETLS form of a refused connection", RequireTLSReply("451 4.4.1", "no host of "+dest, ConnectFailedReply(hop, refused)), hop, true, "", ""},
		{"no greeting", OpeningFailedReply("greeting", hop, "read tcp 192.0.2.1:25: i/o timeout"), hop, false, "", "no greeting"},
		{"no reply to EHLO", OpeningFailedReply("reply to EHLO", hop, "read tcp 192.0.2.1:25: i/o timeout"), hop, false, "", "no reply to EHLO"},
		{"no reply to MAIL", SessionFailedReply(hop, "reply to MAIL: read tcp 192.0.2.1:25: i/o timeout"), hop, false, "", "no reply to MAIL"},
		{"no reply to the end of the message", SessionFailedReply(hop, FinalReplyTimedOut(10*time.Minute)), hop, false, "", "no reply to the end of the message within 10m0s"},
		{"a greeting refused", OpeningFailedReply("greeting", hop, "554 5.7.1 go away"), hop, false, "", ""},
		{"a login refused", AuthFailedReply(hop, "535 5.7.8 bad credentials"), hop, false, "", ""},
		{"connection lost", SessionFailedReply(hop, "connection lost during DATA: EOF"), hop, false, "", ""},
		{"a relay's connect words about a host beyond it", ConnectFailedReply(other, refused), hop, false, "", ""},
		{"a relay's no host reachable", NoHostReachableReply, hop, false, "", ""},
		{"a relay's stall words about a host beyond it", SessionFailedReply(other, FinalReplyTimedOut(time.Minute)), hop, false, "", ""},
		{"a relay's own 4.4.4", "451 4.4.4 no route to far.example", hop, false, "", ""},
		{"the dead destination's note", deadReply(dest, ConnectFailedReply(hop, refused)), dest, true, "", ""},
		{"LMTP server unreachable", LMTPUnreachable + "dial unix /run/lmtp: connect: no such file or directory", LMTPHop("/run/lmtp"), true, "", ""},
		{"an LMTP server's own 4.4.1", "451 4.4.1 mailbox store busy", LMTPHop("/run/lmtp"), false, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NotReached(c.reply, c.nextHop, ""); got != c.notReached {
				t.Errorf("NotReached(%q, %q) = %v; want %v", c.reply, c.nextHop, got, c.notReached)
			}
			if _, why, ok := hostUnreached(c.reply, c.nextHop, ""); c.why != "" && (!ok || why != c.why) {
				t.Errorf("hostUnreached(%q) = %q, %v; want %q", c.reply, why, ok, c.why)
			}
			_, missing, ok := hostStopped(c.reply, c.nextHop)
			if ok != (c.missing != "") || missing != c.missing {
				t.Errorf("hostStopped(%q) = %q, %v; want %q", c.reply, missing, ok, c.missing)
			}
			if c.missing != "" && !StoppedAnswering(c.reply, c.nextHop) {
				t.Errorf("StoppedAnswering(%q) false", c.reply)
			}
		})
	}
	// The opening's words the DSN quotes a host's refusal from
	// (openingHostReply) are the constructors' too.
	for _, reply := range []string{OpeningFailedReply("greeting", hop, "554 5.7.1 go away"), AuthFailedReply(hop, "554 5.7.1 go away"),
		OutOfStepReply(hop, "MAIL", "554 5.7.1 go away"), OutOfStepReply(hop, "DATA", "554 5.7.1 go away")} {
		if got, ok := openingHostReply(reply, hop); !ok || got != "554 5.7.1 go away" {
			t.Errorf("openingHostReply(%q) = %q, %v; want the host's reply", reply, got, ok)
		}
	}
}

// Q-3, OPS-5 (errtext44, a sibling): the scheduler's signal reads "the
// next hop could not be reached or broke the session" as the map and
// the DSN do — umbra's own words naming the host — not from a 4.4.x
// code alone: a relay's own 451 4.4.1 or 4.4.4 (about a host beyond
// it) is an answer, which neither shrinks its window nor moves it
// toward dead, nor shows it failing in `queue list`; umbra's connect
// and stall words about it, a 421 it closed with and its own 4.4.2 (a
// session it ends: deaddsn_test.go's busy host) still count against it.
func TestQ3FeedbackReadsUmbrasWordsNotTheCode(t *testing.T) {
	const hop = "relay.example[192.0.2.1]:25"
	for _, tc := range []struct {
		name string
		res  Result
		want int
	}{
		{"a relay's connect words about a host beyond it", Result{Outcome: Deferred, NextHop: hop, Reply: "451 4.4.1 connect to far.example[192.0.2.9]:25: dial tcp 192.0.2.9:25: connect: connection refused"}, +1},
		{"a relay's own 4.4.4", Result{Outcome: Deferred, NextHop: hop, Reply: "451 4.4.4 no route to far.example"}, +1},
		{"a relay's own 4.4.1 in any words", Result{Outcome: Deferred, NextHop: hop, Reply: "451 4.4.1 Unable to reach the next hop"}, +1},
		{"umbra's refused connection", Result{Outcome: Deferred, NextHop: hop, Reply: ConnectFailedReply(hop, errors.New("dial tcp 192.0.2.1:25: connect: connection refused"))}, -1},
		{"umbra's no greeting", Result{Outcome: Deferred, NextHop: hop, Reply: OpeningFailedReply("greeting", hop, "read tcp 192.0.2.1:25: i/o timeout")}, -1},
		{"umbra's no reply to MAIL", Result{Outcome: Deferred, NextHop: hop, Reply: SessionFailedReply(hop, "reply to MAIL: read tcp 192.0.2.1:25: i/o timeout")}, -1},
		{"no host reachable", Result{Outcome: Deferred, NextHop: "mx:example.net", Reply: NoHostReachableReply}, -1},
		{"the host closed with 421", Result{Outcome: Deferred, NextHop: hop, Reply: "421 4.4.2 closing, too many connections"}, -1},
		{"the host's own 4.4.2, closing", Result{Outcome: Deferred, NextHop: hop, Reply: "451 4.4.2 relay.example is too busy, closing"}, -1},
		// rt44 delivery2 F4: delivery says when the host answered and
		// kept its session; its 4xx is then its message's deferral.
		{"the host's own 4.4.2, answered", Result{Outcome: Deferred, NextHop: hop, Answered: true, Reply: "451 4.4.2 relay.example is too busy, try later"}, +1},
		{"the host's own 4.7.5, answered", Result{Outcome: Deferred, NextHop: hop, Answered: true, Reply: "451 4.7.5 relay.example's own policy"}, +1},
		{"a stray reply", Result{Outcome: Deferred, NextHop: hop, Reply: StrayReply(hop, `"354 go ahead"`)}, +1},
		// Hosts tried that answered and were passed over for the
		// content (umbra's refusal names the host), the rest cut by a
		// limit: no failed contact — and, nothing delivered, no
		// success either (deliv47): 0, with Answered or without.
		{"hosts tried that answered", Result{Outcome: Deferred, NextHop: hop, Reply: NotSentReply("554 5.6.1 "+hop+": 8-bit content not taken") + " (mx_address_limit 1 reached: 1 more host not tried in this attempt)"}, 0},
		{"hosts tried that answered, answered", Result{Outcome: Deferred, NextHop: hop, Answered: true, Reply: NotSentReply("554 5.6.1 "+hop+": 8-bit content not taken") + " (mx_address_limit 1 reached: 1 more host not tried in this attempt)"}, 0},
		// deliv47: a 421 closes the session whatever its status.
		{"the host closed with 421 4.7.0", Result{Outcome: Deferred, NextHop: hop, Reply: "421 4.7.0 too many connections from your IP"}, -1},
	} {
		if got := feedback([]Result{tc.res}); got != tc.want {
			t.Errorf("%s: feedback %d, want %d", tc.name, got, tc.want)
		}
	}
}
