package queue

import (
	"strings"
	"testing"
	"time"
)

// Q-3, SR-6 (sched33): a delay DSN reports a recipient of a copy taken
// over and not tried here by what keeps it now — waiting for a slot of
// its destination (Status 4.4.5), its destination dead (4.4.1, no
// answer from host), held, stopped — not by the takeover's note the
// throttle's or the dead mark's carries (carryTakeover): that read
// "451 4.4.0 network or routing problem", Status 4.4.0, for a recipient
// only waiting for a free connection. A host's reply carried is still
// quoted as the host's.
func TestQ3DelayDSNOfTakenOverCopyWaitingSaysWhy(t *testing.T) {
	take := takeoverPrefix + "hub-b: 3 heartbeats failed"
	host := "451 4.2.0 greylisted, try later"
	for _, c := range []struct {
		name, reply, hop string
		status, says     string
	}{
		{"throttled", throttleReply + throttleLastText + take, "", "4.4.5", "waiting for a delivery slot"},
		{"throttled, host's reply", throttleReply + throttleLastText + host, "mx.c.example[192.0.2.3]:25", "4.2.0", "4.2.0"},
		{"dead", deadReply("mx/c.example", take), "", "4.4.1", "failed to answer"},
		{"dead, host's reply", deadReply("mx/c.example", host), "mx.c.example[192.0.2.3]:25", "4.2.0", "4.2.0"},
		{"stopped", stopReply + throttleLastText + take, "", "4.3.2", "interrupted by a shutdown"},
		{"held", HeldReply("mx:c.example") + throttleLastText + take, "", "4.3.2", "held by the administrator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{ID: 7, From: "sender@example.org", Arrived: time.Unix(1e9, 0),
				Rcpts: []Recipient{{Addr: "x@c.example", Queue: "shadow:hub-b", NextHop: c.hop, LastReply: c.reply, Status: Pending}}}
			dsn := string(BuildDSN("mx.test", m, []byte("Subject: s\r\n\r\nbody\r\n"), NotifyDelay, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
			_, st, _ := strings.Cut(dsn, "Status: ")
			st, _, _ = strings.Cut(st, "\r\n")
			line := dsnTextLine(dsn, "x@c.example")
			if st != c.status || !strings.Contains(line, c.says) {
				t.Fatalf("Status %s, %q; want %s and %q\n%s", st, line, c.status, c.says, dsn)
			}
		})
	}
}

// SR-6 (sched33): a hold's or the stop's note carries a taken-over
// copy's note once, however often it is made again from the reply it
// replaces (a claim's Held result at a DSN due gives back the reply as
// it was); a resume leaves the note itself.
func TestSR6TakeoverNoteCarriedOnce(t *testing.T) {
	take := takeoverPrefix + "hub-b: 3 heartbeats failed"
	held := carryTakeover(take, HeldReply("mx:c.example"))
	if again := carryTakeover(held, held); again != held {
		t.Fatalf("carried again: %q; want %q", again, held)
	}
	if heldBy(held) != "mx:c.example" || realReply(held) != take || takeoverLeft(held) != take {
		t.Fatalf("held %q: queue %q, real %q, left %q", held, heldBy(held), realReply(held), takeoverLeft(held))
	}
	stop := carryTakeover(take, stopReply)
	if !isStopReply(stop) || realReply(stop) != take || carryTakeover(stop, stopReply) != stop {
		t.Fatalf("stop %q: real %q", stop, realReply(stop))
	}
	if carryTakeover("250 ok", HeldReply("q")) != HeldReply("q") || takeoverLeft(HeldReply("q")) != "" {
		t.Fatal("a recipient with no takeover note gets the bare hold, and nothing after it")
	}
}
