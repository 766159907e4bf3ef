package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// rcpt44IP is the loopback address of the rcpt44 tests (ports
// 7000-7999).
const rcpt44IP = "127.0.0.150"

// rcpt44Org is hungPeerOrgAt on rcpt44IP: hub-a copies on receipt,
// hub-b (the other site, first) reached through the proxy, hub-c (site
// a) the next candidate, the sink reserved.
func rcpt44Org(t *testing.T) *hungPeerHubs {
	t.Helper()
	seen := map[string]bool{}
	var in []string
	for try := 0; len(in) < 6 && try < 600; try++ {
		if a := addrInRange(t, rcpt44IP, 7500, 500); !seen[a] {
			seen[a] = true
			in = append(in, a)
		}
	}
	if len(in) < 6 {
		t.Fatalf("%d distinct free addresses on %s, want 6", len(in), rcpt44IP)
	}
	return hungPeerOrgAt(t, in[0], in[1], in[2], in[3], in[4], in[5])
}

// repeatCase is how a copy's first push is cut after its whole write
// (hub-b kept it; its answer reset on the way, unread by hub-a).
type repeatCase struct {
	name string
	// cuts: hub-b's answers cut per message — 1: hub-a's second
	// session to hub-b repeats the push there; 2: that one's answer is
	// cut too, and the copy is made on hub-c (hub-b holds a copy hub-a
	// does not name).
	cuts int
	// batch: the messages are sent by 20 senders at once (their copies
	// go in batches to hub-b), the answer to one batch cut: each of its
	// copies is pushed again alone.
	batch bool
	// n messages: one when the cut marks hub-b failed for copies (the
	// next copies go to hub-c first, nothing cut).
	n int
	// delay: the second session to hub-b, which repeats the push,
	// reaches it that much later — after hub-a delivered the message and
	// hub-b fetched the discard that settled its copy (dup43's order).
	delay time.Duration
}

var repeatCases = []repeatCase{{"same-server", 1, false, 3, 0}, {"next-candidate", 2, false, 1, 0}, {"batch", 1, true, 40, 0}}

// repeatAfterDiscard is the case of a repeated push that reaches hub-b
// after the discard of the copy it kept (hub-a delivered first).
var repeatAfterDiscard = repeatCase{"repeat-after-discard", 1, false, 1, 4 * time.Second}

// acceptedWithCopy reports whether r, the text of a 250, names the
// message's copy on hub-b or hub-c — or says it left hub-a (delivered)
// before its copy was made or confirmed.
func acceptedWithCopy(r string) bool {
	return strings.Contains(r, "shadow copy on hub-") || strings.Contains(r, "left this server before its shadow copy was")
}

// sendFirstPushCut sends n messages through hub-a as c says, each
// acknowledged with its copy on hub-b or hub-c, and fails the test
// unless hub-b kept a copy whose answer the proxy cut. It returns the
// subjects.
func sendFirstPushCut(t *testing.T, o *hungPeerHubs, c repeatCase, prefix string, n int) []string {
	t.Helper()
	subject := func(i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
	body := func(i int) string { return "Subject: " + subject(i) + "\r\n\r\nhello" }
	var subjects []string
	if c.batch {
		o.proxy.cutBatch.Store(true)
		o.proxy.cutN.Store(1)
		replies := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		next := make(chan int, n)
		for i := range n {
			next <- i
		}
		close(next)
		for range 20 {
			wg.Go(func() {
				for i := range next {
					replies[i], errs[i] = sendOne(o.a, subject(i))
				}
			})
		}
		wg.Wait()
		for i, r := range replies {
			if errs[i] != nil || !acceptedWithCopy(r) { // its 250's text
				t.Fatalf("%s: reply %q (%v); want a 250 naming its copy on hub-b or hub-c", subject(i), r, errs[i])
			}
			subjects = append(subjects, subject(i))
		}
	} else {
		if c.delay > 0 {
			// A first message, not cut, leaves hub-a a session to hub-b
			// for the next copy: the connection delayed is the second
			// session's, which repeats the push.
			w := prefix + "-warm"
			if r := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, "Subject: "+w+"\r\n\r\nhello"); !strings.HasPrefix(r, "250") || !acceptedWithCopy(r) {
				t.Fatalf("%s: reply %q; want a 250 naming its copy", w, r)
			}
			subjects = append(subjects, w)
		}
		for i := range n {
			before := o.proxy.cuts.Load()
			o.proxy.cutN.Store(int32(c.cuts))
			o.proxy.delayNext.Store(int64(c.delay))
			r := rawSend(t, o.a, "a@example.org", []string{"x@remote.example"}, body(i))
			if !strings.HasPrefix(r, "250") || !acceptedWithCopy(r) {
				t.Fatalf("%s: reply %q; want a 250 naming its copy", subject(i), r)
			}
			if got := o.proxy.cuts.Load() - before; got != int32(c.cuts) {
				t.Fatalf("%s: %d of hub-b's answers cut, want %d: the test proves nothing", subject(i), got, c.cuts)
			}
			subjects = append(subjects, subject(i))
		}
	}
	if c.batch && o.proxy.cuts.Load() != 1 {
		t.Fatalf("%d answers to a batch cut, want 1: the test proves nothing", o.proxy.cuts.Load())
	}
	if o.proxy.cuts.Load() == 0 || !strings.Contains(o.proxy.answers(), "Shadow copy kept as") {
		t.Fatalf("hub-b never kept a copy whose answer was cut (%d cuts, answers %q): the test proves nothing", o.proxy.cuts.Load(), o.proxy.answers())
	}
	return subjects
}

// exactlyOnce fails the test unless the sink got each subject once,
// checked again after a wait in which a second copy on its way (a
// takeover, a heartbeat or two later) would land.
func exactlyOnce(t *testing.T, sink *recorder, subjects []string, wait time.Duration) {
	t.Helper()
	time.Sleep(wait)
	got := sink.counts()
	for _, s := range subjects {
		if got[s] != 1 {
			t.Errorf("%s arrived %d times, want once", s, got[s])
		}
	}
}

// SR-17, SR-3, SR-6 (rcpt44 item 1, dup43 with real processes): hub-a's
// first push of a copy on receipt reaches hub-b whole, hub-b keeps it,
// and its answer is cut on the way (a reset after the final dot, or
// after a batch's data: unread by hub-a): hub-a pushes the copy again —
// to hub-b on a new session, or, that one cut too, to hub-c — and
// acknowledges the sender. hub-a is then killed -9 for good before it
// delivered anything (its next hop, the sink, is down): hub-b and hub-c
// take hub-a's copies over, and the sink gets each acknowledged message
// exactly once — a repeated push kept no second copy, and a copy hub-a's
// record does not name is not delivered beside the one it names.
func TestSR17RepeatPushAfterCutReplyTakenOverOnce(t *testing.T) {
	t.Parallel()
	for _, c := range repeatCases {
		t.Run(c.name, func(t *testing.T) {
			o := rcpt44Org(t)
			subjects := sendFirstPushCut(t, o, c, "repeat-takeover", c.n)
			p := &shadowPair{}
			sb, _ := p.held(t, o.cfgB, "hub-a")
			sc, _ := p.held(t, o.cfgC, "hub-a")
			t.Logf("before the kill: hub-b holds %d copies for hub-a, hub-c %d", sb, sc)
			if c.cuts == 1 && (sb != len(subjects) || sc != 0) {
				t.Errorf("hub-b holds %d copies for hub-a, hub-c %d; want %d on hub-b alone (the repeated push kept no second copy)", sb, sc, len(subjects))
			}
			o.ha.kill()
			sink := startRecorder(t, o.sink)
			waitArrived(t, sink, subjects, o.hb)
			exactlyOnce(t, sink, subjects, 6*time.Second)
		})
	}
}

// SR-17, SR-3 (rcpt44 item 1): as above, but hub-a delivers each message
// first (the sink is up): the copies of hub-b and hub-c — a repeated
// push's too — are discarded once their discards are fetched, and after
// hub-a is killed -9 for good neither delivers a message hub-a
// delivered.
//
// In the last case hub-a's second session to hub-b, which repeats the
// push, reaches hub-b only after hub-b fetched the discard that settled
// the copy it kept (the first push's): hub-b answers it "already
// discarded" and keeps nothing (dup43), and holds nothing hub-a's death
// could have it deliver.
func TestSR17RepeatPushAfterCutReplyPrimaryDeliversFirst(t *testing.T) {
	t.Parallel()
	for _, c := range append(repeatCases, repeatAfterDiscard) {
		t.Run(c.name, func(t *testing.T) {
			o := rcpt44Org(t)
			sink := startRecorder(t, o.sink)
			subjects := sendFirstPushCut(t, o, c, "repeat-delivered", c.n)
			waitArrived(t, sink, subjects, o.ha)
			if c.delay > 0 && !strings.Contains(o.proxy.answers(), "Shadow copy already discarded") {
				t.Errorf("hub-b's answers %q: want the repeated push answered \"already discarded\" (it came after the discard)", o.proxy.answers())
			}
			p := &shadowPair{}
			if !waitFor(30*time.Second, func() bool {
				sb, kb := p.held(t, o.cfgB, "hub-a")
				sc, kc := p.held(t, o.cfgC, "hub-a")
				return sb == 0 && kb == 0 && sc == 0 && kc == 0
			}) {
				dumpHeldForA(t, o)
				t.Fatal("timed out: hub-b and hub-c to drop hub-a's copies")
			}
			time.Sleep(3 * time.Second) // a few heartbeats: a repeated push still on its way lands now
			for _, h := range []struct{ name, cfg string }{{"hub-b", o.cfgB}, {"hub-c", o.cfgC}} {
				if s, k := p.held(t, h.cfg, "hub-a"); s != 0 || k != 0 {
					t.Errorf("%s holds %d copies for hub-a (%d pending) after hub-a delivered every message", h.name, s, k)
				}
			}
			o.ha.kill()
			exactlyOnce(t, sink, subjects, 8*time.Second)
		})
	}
}

// waitFor polls cond every 50 ms until it holds (true) or d passes
// (false), for a caller that explains a timeout before it fails.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// dumpHeldForA logs what hub-b and hub-c still keep for hub-a when a
// wait for their copies' discards ran out: each one's shadow list, every
// copy it holds for hub-a (its id there, its org id, its state), that
// copy's events on its holder, and hub-a's record of the same org id —
// its receipt, the shadow server its commit named, its delivery and the
// discard it prepared, and for which server — so that a failure tells
// which copy no discard settled, and whether hub-a owed it one.
func dumpHeldForA(t *testing.T, o *hungPeerHubs) {
	t.Helper()
	for _, h := range []struct{ name, cfg string }{{"hub-b", o.cfgB}, {"hub-c", o.cfgC}} {
		out, code := cli(t, h.cfg, "shadow", "list")
		t.Logf("%s shadow list (exit %d):\n%s", h.name, code, out)
		js, code := cli(t, h.cfg, "message", "list", "--queue", "shadow:hub-a", "--json")
		var ms []struct {
			ID      string    `json:"id"`
			State   string    `json:"state"`
			OrgID   string    `json:"org_id"`
			Arrived time.Time `json:"arrived"`
		}
		if err := json.Unmarshal([]byte(js), &ms); code != 0 || err != nil {
			t.Logf("%s message list --queue shadow:hub-a (exit %d, %v): %s", h.name, code, err, js)
			continue
		}
		for _, m := range ms {
			t.Logf("%s keeps %s for hub-a: org id %s, state %s, arrived %s", h.name, m.ID, m.OrgID, m.State, m.Arrived.Format(time.RFC3339Nano))
			if m.OrgID == "" {
				continue
			}
			held, _ := cli(t, h.cfg, "track", "--message-id", m.OrgID)
			t.Logf("%s's events of org id %s:\n%s", h.name, m.OrgID, held)
			rec, _ := cli(t, o.cfgA, "track", "--message-id", m.OrgID)
			t.Logf("hub-a's events of org id %s (the copy it expects, and on which server):\n%s", m.OrgID, rec)
		}
	}
	out, _ := cli(t, o.cfgA, "message", "list")
	t.Logf("hub-a's messages:\n%s", out)
}
