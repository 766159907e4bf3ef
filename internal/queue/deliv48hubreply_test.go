package queue

import (
	"strings"
	"testing"
	"time"
)

// Q-3 (deliv48 item 3): a next-hop umbra hub that could not reach its
// own next hop answers "451 4.4.1 no host reachable" (or "no host of
// DEST left to try", "no server of the route answered") — umbra's words
// when they are its own, the hub's reply when a host umbra reached gave
// them. A hub relayed to through its shadow session is recorded by its
// name alone in its route's queue (orgServerHop): there too the DSN
// quotes the reply as the hub's (Remote-MTA the hub, Diagnostic-Code,
// the expiry's "last reply"), never "could not be reached", and
// NotReached (the console's map) does not read the hub as unreached.
// umbra's own words recorded against the route's queue stay unreached.
func TestQ3HubsOwnNoHostReachableIsItsReply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 3, 0, 0, time.UTC)
	for _, hub := range []string{
		"451 4.4.1 no host reachable",
		"451 4.4.1 no host of far.test left to try",
		"451 4.4.1 no server of the route answered",
	} {
		for _, rec := range []struct{ hop, queue string }{
			{"mx.relay.test[192.0.2.7]:25", "mx:far.test"},
			{"hub-b", "site:b"},
		} {
			for _, kind := range []Notify{NotifyDelay, NotifyFailure} {
				r := Recipient{Addr: "rC@far.test", Notify: NotifyFailure | NotifyDelay, Status: Pending,
					Queue: rec.queue, NextHop: rec.hop, LastReply: hub}
				if kind == NotifyFailure {
					r.Status, r.LastReply = Failed, expiredReply("550 5.4.7", 180*time.Second, hub)
				}
				m := &Message{ID: 0xABC, From: "bob@example.org", Arrived: at.Add(-180 * time.Second), Rcpts: []Recipient{r}}
				dsn := string(BuildDSNBody("mx.test", m, MemBody([]byte("Subject: x\r\n\r\nbody\r\n")), kind, []int{0}, at, at, 0xDEF, 0, Inside{SenderDomains: []string{"example.org"}}))
				if strings.Contains(dsn, "could not be reached") || strings.Contains(dsn, "could be reached") || !strings.Contains(dsn, "Diagnostic-Code: smtp; "+hub) {
					t.Errorf("%q against %s in %s, kind %v: the hub's reply is not quoted as its own:\n%s", hub, rec.hop, rec.queue, kind, dsn)
				}
				if kind == NotifyFailure && !strings.Contains(ShownReply(m, 0), "last reply: "+hub) {
					t.Errorf("ShownReply %q; want the hub's reply quoted", ShownReply(m, 0))
				}
			}
			if NotReached(hub, rec.hop, rec.queue) {
				t.Errorf("NotReached(%q, %s, %s) of a hub that answered it: true", hub, rec.hop, rec.queue)
			}
		}
	}
	if !NotReached(NoServerAnsweredReply, "site:b", "site:b") || !NotReached(NoHostReachableReply, "example.net", "mx:example.net") {
		t.Errorf("umbra's own words on no host reached, recorded against the queue or destination, no longer read so")
	}
}
