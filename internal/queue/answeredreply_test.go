package queue

import (
	"errors"
	"testing"
)

// Q-6 (rddeliv47): AnsweredReply reads back what Result.Answered said
// when the result came, for every kind of reply a recipient stores —
// umbra's own words that name no host too. A deferral of umbra's
// recorded against the host it was trying (the message's content
// unreadable, a panic recovered, no result given, the expiry, the stop)
// is no answer of that host; before, any words that did not name the
// host read as its own reply. And a server of the organisation relayed
// to through its shadow session is recorded by its name ("hub-b", in
// the route's site: queue): its own reply is its answer, umbra's words
// naming it are not (delivery TestQ6OrgServersOwnReplyReadBackAsAnswered).
func TestQ6AnsweredReplyEveryStoredForm(t *testing.T) {
	const host, server = "mx.example.net[192.0.2.1]:25", "hub-b"
	for _, c := range []struct {
		reply, hop, queue string
		answered          bool
	}{
		{"451 4.4.2 too busy, try later", host, "mx:example.net", true},
		{"450 4.2.1 mailbox busy", host, "mx:example.net", true},
		{"421 4.7.0 too many connections", host, "mx:example.net", false},
		{SessionFailedReply(host, "reply to MAIL: EOF"), host, "mx:example.net", false},
		{OutOfStepReply(host, "MAIL", "503 5.5.1 nested"), host, "mx:example.net", true},
		{NotSentReply("554 5.7.1 go away"), host, "mx:example.net", true},
		{UnreadableReply(errors.New("spool file shorter than its record")), host, "mx:example.net", false},
		{PanicReply, host, "mx:example.net", false},
		{noResultReply, host, "mx:example.net", false},
		{ExpiredUnsentReply, host, "mx:example.net", false},
		{NoHostReachableReply, "connector:internet/example.net", "mx:example.net", false},

		{"451 4.4.1 no host reachable", server, "site:b", true},
		{"451 4.4.2 too busy, try later", server, "site:b", true},
		{"421 4.3.2 shutting down", server, "site:b", false},
		{SessionFailedReply(server, "reply to MAIL: EOF"), server, "site:b", false},
		{OutOfStepReply(server, "MAIL", "503 5.5.1 nested"), server, "site:b", true},
		{SelfRelayReply(server), server, "site:b", false},
		{UnreadableReply(errors.New("spool file shorter than its record")), server, "site:b", false},
		{NoServerAnsweredReply, "site:b", "site:b", false},
		{NoServerInSiteReply("b"), "site:b", "site:b", false},
	} {
		if got := AnsweredReply(c.reply, c.hop, c.queue); got != c.answered {
			t.Errorf("%q against %s in %s: answered %v, want %v", c.reply, c.hop, c.queue, got, c.answered)
		}
	}
	// After a restart: the hub's own deferral is no failure of the
	// route's destination, umbra's words on its broken session are.
	if destFailure("451 4.4.1 no host reachable", server, "site:b") {
		t.Error("a hub's own 451 4.4.1 read back as a failure of its route's destination")
	}
	if !destFailure(SessionFailedReply(server, "reply to MAIL: EOF"), server, "site:b") {
		t.Error("umbra's words on a hub's broken session read back as no failure")
	}
}
