package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The chaos soak's checker of duplicates at the outside destination: the
// fault that let the sink have a second copy of a message, or none.

// chaosGenIP is the generator's address: a server whose tracking log has
// a message received from it is a server that received the message from
// its sender.
const chaosGenIP = "127.0.66.100"

// chaosMsgFacts is what the servers' tracking logs say of one message:
// which servers received it from the generator, and which server held a
// copy on receipt for which of them (SR-17; holder → primary).
type chaosMsgFacts struct {
	received map[string]bool
	held     map[string]string
}

// holds reports whether a server held a copy on receipt for primary.
func (mf chaosMsgFacts) holds(primary string) bool {
	for _, p := range mf.held {
		if p == primary {
			return true
		}
	}
	return false
}

type chaosFacts map[int]*chaosMsgFacts

func (f chaosFacts) of(seq int) chaosMsgFacts {
	if m := f[seq]; m != nil {
		return *m
	}
	return chaosMsgFacts{}
}

// chaosReadFacts reads every server's tracking log.
func chaosReadFacts(servers []*chaosServer) chaosFacts {
	facts := chaosFacts{}
	for _, s := range servers {
		if f, err := os.Open(filepath.Join(s.data, "tracking.log")); err == nil {
			facts.add(s.name, f)
			f.Close()
		}
	}
	return facts
}

var chaosMidRE = regexp.MustCompile(`^<chaos-([0-9]+)@gen\.test>$`)

func (f chaosFacts) add(server string, r *os.File) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Event     string `json:"event"`
			MessageID string `json:"message_id"`
			ClientIP  string `json:"client_ip"`
			Reply     string `json:"reply"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		m := chaosMidRE.FindStringSubmatch(ev.MessageID)
		if m == nil {
			continue
		}
		seq, _ := strconv.Atoi(m[1])
		mf := f[seq]
		if mf == nil {
			mf = &chaosMsgFacts{received: map[string]bool{}, held: map[string]string{}}
			f[seq] = mf
		}
		switch {
		case ev.Event == "receive" && ev.ClientIP == chaosGenIP:
			mf.received[server] = true
		case ev.Event == "shadow" && strings.HasPrefix(ev.Reply, "shadow copy on receipt for "):
			mf.held[server] = strings.TrimPrefix(ev.Reply, "shadow copy on receipt for ")
		}
	}
}

// Why a fault explains a duplicate (chaosExplain's second result).
const (
	chaosWhyPartition = "partition between the shadow server and a primary that relayed it"
	chaosWhyPrimary   = "kill -9 of a primary that relayed it"
	chaosWhyResend    = "kill -9 of the relaying server right after the destination's 250"
	chaosWhyReceiver  = "kill -9 of the receiving server right after it handed the message on"
	chaosWhyHeld      = "partition between the receiving server and its copy on receipt's holder"
)

// chaosExplain finds the fault among events that lets the sink have a
// second copy of a message from the server pb at later, the first having
// come from pa at first (README, "Windows that can still produce a
// duplicate", 1). Each way is a shadow copy taken over although the
// server it was held for had already passed the message on, or a
// server sending again what it passed on just before it was killed:
//
//   - The shadow server of mail leaving the organisation is hub1 (the
//     generator submits it there; hub2 and hub3 take it only while hub1
//     is down, and then relay it themselves), its primaries are the hubs
//     of s2 that relay it. A fault that could cause a takeover (longer
//     than the takeover delay, a wiped database, never) explains two
//     copies from those primaries when it involved one of the two
//     (killed, or cut from hub1), was still going on when the first copy
//     left (less a second of slack), began at most 5 s after it (the
//     time for its discard notification to reach hub1), and before the
//     second copy.
//   - Without a takeover, a kill of the server that sent both copies
//     explains them when it began right after the first (between the
//     sink's 250 and that server's commit of it, it sends again after
//     its restart).
//   - With shadow on receipt, the server that received the message from
//     the generator (the copy's primary) pushed a copy to another server
//     before its 250. When it handed the message on to the relaying hub
//     and was killed right after (the same 5 s) — before its discard
//     notification reached the holder, or before it committed the
//     hand-on — the holder takes the copy over, or the receiver itself
//     sends it again after its restart (so the kill needs a copy on
//     receipt held for that server, or a restart with its database), and
//     the relaying hub, done with its own copy, relays the second one
//     too. A partition longer than the takeover delay between that
//     server and the copy's holder, going on then, explains a duplicate
//     likewise.
//
// Nothing else does: a fault of a server that never held the message,
// or one long after the first copy left (its discard had arrived by
// then), explains nothing.
func chaosExplain(events []chaosEvent, mf chaosMsgFacts, pa, pb string, first, later time.Time) (*chaosEvent, string) {
	var kill *chaosEvent
	why := ""
	soon := func(e *chaosEvent) bool {
		return !e.start.Before(first.Add(-time.Second)) && !e.start.After(first.Add(5*time.Second)) && e.start.Before(later)
	}
	for i := range events {
		e := &events[i]
		if !e.partition() && pa == pb && e.server == pa && soon(e) {
			kill, why = e, chaosWhyResend
			continue
		}
		if !e.partition() && e.server != pa && mf.received[e.server] && soon(e) && (e.action == "same database" || mf.holds(e.server)) {
			kill, why = e, chaosWhyReceiver
			continue
		}
		if !e.takeover() || e.end.Before(first.Add(-time.Second)) || e.start.After(later) || e.start.After(first.Add(5*time.Second)) {
			continue
		}
		if e.partition() {
			if e.server == "hub1<->"+pa || e.server == "hub1<->"+pb {
				return e, chaosWhyPartition
			}
			for holder, primary := range mf.held {
				if e.server == holder+"<->"+primary || e.server == primary+"<->"+holder {
					return e, chaosWhyHeld
				}
			}
			continue
		}
		if e.server == pa || e.server == pb {
			kill, why = e, chaosWhyPrimary
		}
	}
	return kill, why
}

// TestChaosExplain: the checker explains a duplicate only by a fault
// that allowed it: the two seen in a soak with shadow on receipt (hub1
// killed right after handing a message to hub2, once wiped so that
// mbx1's copy on receipt was taken over, once back with its database so
// that it handed the message on again), and not the same faults of a
// server that never held the message, or seconds after its discard was
// due.
func TestChaosExplain(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	kill := func(server, action string, s, down float64) chaosEvent {
		return chaosEvent{server: server, action: action, start: at(s), end: at(s + down), down: time.Duration(down * float64(time.Second))}
	}
	viaHub1 := chaosMsgFacts{received: map[string]bool{"hub1": true}, held: map[string]string{"mbx1": "hub1"}}
	noCopy := chaosMsgFacts{received: map[string]bool{"hub1": true}}
	viaHub2 := chaosMsgFacts{received: map[string]bool{"hub2": true}, held: map[string]string{"mbx1": "hub2"}}
	for _, c := range []struct {
		name          string
		events        []chaosEvent
		mf            chaosMsgFacts
		pa, pb        string
		first, second float64
		want          string // "" for unexplained
	}{
		// Message 852 of seed 1796122434712065927: hub1 wiped right
		// after handing it to hub2, mbx1 took its copy over.
		{"receiver wiped, copy taken over", []chaosEvent{kill("hub1", "wiped database", 25.0, 3.5)}, viaHub1, "hub2", "hub2", 25.0, 28.1, chaosWhyReceiver},
		// Message 2204: hub1 killed before committing the hand-on,
		// back with its database, handed it to hub2 again.
		{"receiver back, hands on again", []chaosEvent{kill("hub1", "same database", 70.0, 2.2)}, noCopy, "hub2", "hub2", 70.0, 72.4, chaosWhyReceiver},
		{"receiver wiped, no copy on receipt", []chaosEvent{kill("hub1", "wiped database", 25.0, 3.5)}, noCopy, "hub2", "hub2", 25.0, 28.1, ""},
		{"receiver killed long after", []chaosEvent{kill("hub1", "wiped database", 31.0, 3.5)}, viaHub1, "hub2", "hub2", 25.0, 35.1, ""},
		{"receiver killed before the message", []chaosEvent{kill("hub1", "wiped database", 20.0, 3.5)}, viaHub1, "hub2", "hub2", 25.0, 28.1, ""},
		{"a server that never received it", []chaosEvent{kill("hub1", "wiped database", 25.0, 3.5)}, viaHub2, "hub3", "hub3", 25.0, 28.1, ""},
		{"the copy's holder killed", []chaosEvent{kill("mbx1", "wiped database", 25.0, 3.5)}, viaHub1, "hub2", "hub2", 25.0, 28.1, ""},
		{"cut from the copy's holder", []chaosEvent{{server: "hub1<->mbx1", action: "drop", start: at(25.0), end: at(30.0), down: 5 * time.Second}}, viaHub1, "hub2", "hub2", 25.0, 28.1, chaosWhyHeld},
		{"cut from the copy's holder, too short", []chaosEvent{{server: "hub1<->mbx1", action: "drop", start: at(25.0), end: at(26.0), down: time.Second}}, viaHub1, "hub2", "hub2", 25.0, 28.1, ""},
		{"cut from a server holding no copy", []chaosEvent{{server: "hub1<->mbx1", action: "drop", start: at(25.0), end: at(30.0), down: 5 * time.Second}}, noCopy, "hub2", "hub2", 25.0, 28.1, ""},
		{"relaying server back, sends again", []chaosEvent{kill("hub2", "same database", 25.0, 1)}, noCopy, "hub2", "hub2", 25.0, 26.5, chaosWhyResend},
		{"relaying primary wiped", []chaosEvent{kill("hub3", "wiped database", 25.0, 3.5)}, noCopy, "hub3", "hub2", 24.0, 28.1, chaosWhyPrimary},
		{"shadow server cut from the relaying primary", []chaosEvent{{server: "hub1<->hub2", action: "reject", start: at(25.0), end: at(30.0), down: 5 * time.Second}}, noCopy, "hub2", "hub2", 25.0, 28.1, chaosWhyPartition},
	} {
		e, why := chaosExplain(c.events, c.mf, c.pa, c.pb, at(c.first), at(c.second))
		if why != c.want || (e == nil) != (c.want == "") {
			t.Errorf("%s: explained by %v (%q), want %q", c.name, e, why, c.want)
		}
	}
}
