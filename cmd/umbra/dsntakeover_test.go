package main

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// dsnSink is the way out of the organisation (the smart host of
// connector "out"): it refuses x@remote.example for good, defers
// y@remote.example while down is set, and keeps what it accepts by
// recipient (the sender's DSNs to a@example.org, y@'s message).
type dsnSink struct {
	srv  *gosmtp.Server
	down atomic.Bool
	// senderDown: the sender's side defers its DSNs (RCPT
	// a@example.org gets 451).
	senderDown atomic.Bool
	// tooBig: a DSN to the sender that returns the whole message is
	// refused as too big for the way back (552 5.3.4 at DATA).
	tooBig  atomic.Bool
	mu      sync.Mutex
	got     map[string][]string
	refused int // RCPT x@ refused
	big     int // whole-message DSNs refused
}

func startDSNSink(t *testing.T, addr string) *dsnSink {
	t.Helper()
	s := &dsnSink{got: map[string][]string{}}
	s.down.Store(true)
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &dsnSinkSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = nopLog{}
	ln := testsupport.Listen(t, addr)
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// dsns counts the DSNs to the sender whose action is action (failed,
// delayed).
func (s *dsnSink) dsns(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.got["a@example.org"] {
		if strings.Contains(m, "Action: "+action) {
			n++
		}
	}
	return n
}

func (s *dsnSink) count(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got[rcpt])
}

func (s *dsnSink) refusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

type dsnSinkSession struct {
	s     *dsnSink
	rcpts []string
}

func (x *dsnSinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *dsnSinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	switch {
	case to == "x@remote.example":
		x.s.mu.Lock()
		x.s.refused++
		x.s.mu.Unlock()
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case to == "y@remote.example" && x.s.down.Load(), to == "a@example.org" && x.s.senderDown.Load():
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 1}, Message: "try later"}
	}
	x.rcpts = append(x.rcpts, to)
	return nil
}
func (x *dsnSinkSession) Reset()        { x.rcpts = nil }
func (x *dsnSinkSession) Logout() error { return nil }
func (x *dsnSinkSession) Data(rd io.Reader) error {
	b, _ := io.ReadAll(rd)
	x.s.mu.Lock()
	if x.s.tooBig.Load() && slices.Contains(x.rcpts, "a@example.org") && bytes.Contains(b, []byte("Content-Type: message/rfc822")) {
		x.s.big++
		x.s.mu.Unlock()
		return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "message too big for the way back"}
	}
	for _, r := range x.rcpts {
		x.s.got[r] = append(x.s.got[r], string(b))
	}
	x.s.mu.Unlock()
	return nil
}

// SR-6, SR-11, Q-3 (multi-process, kill -9): hub-a (127.0.0.180) keeps a
// message to x@ and y@ whose copy on receipt hub-b keeps; the way out
// refuses x@ for good and defers y@. hub-a sends the sender its failure
// DSN for x@ (in the second case sent again with the headers only: the
// one that returned the whole message was refused as too big; in the
// third, also its delay DSN for y@), and hub-b
// hears what that settles (the partial discard of x@ once the DSN left;
// the delay note); then hub-a is killed -9 for good. hub-b takes the copy
// over after its failed heartbeats: it does not try x@ again, and the
// sender gets exactly one failure DSN and one delay DSN — the delay DSN
// from hub-b in the first two cases (hub-a was killed before it was due),
// from hub-a alone in the third, where hub-b's own delay_notification
// is longer and falls due after hub-a was last heard from (the rule of
// a primary heard from after the due time does not hold: the delay note
// alone tells hub-b). When the way out recovers, y@ is delivered exactly
// once.
func TestTakeoverAfterPrimaryDSNsSendsNoSecond(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		delayA, delayB string // transport.delay_notification of hub-a and hub-b
		killAfter      string // "failed", or "delayed": the DSNs hub-a sent before the kill
		refit          bool   // RET=FULL, and the failure DSN that returns it refused as too big
	}{
		{"after-failure-dsn", "8s", "8s", "failed", false},
		// The failure DSN is sent again with the headers only, under a
		// new id (reread23 F3): its departure settles x@ as the first's
		// would have.
		{"after-refit-failure-dsn", "8s", "8s", "failed", true},
		// hub-b's notice falls due after hub-a was last heard from:
		// only the delay note keeps hub-b from sending a second one.
		{"after-delay-dsn", "3s", "8s", "delayed", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			// The sink's port reserved first: two free ports picked on
			// one address one after the other can be the same one (hub-b
			// and the sink were once, and hub-a met the sink as hub-b).
			sinkAddr := reserveAddr(t, "127.0.0.1")
			a, b := freeAddr(t, "127.0.0.180"), freeAddr(t, "127.0.0.1")
			sink := startDSNSink(t, sinkAddr)
			topoPath := twoSiteTopology(t, dir, a, b, sinkAddr, "hub-a", "hub-b")
			cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
			cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
			for cfg, delay := range map[string]string{cfgA: c.delayA, cfgB: c.delayB} {
				raw, err := os.ReadFile(cfg)
				if err != nil {
					t.Fatal(err)
				}
				raw = bytes.Replace(raw, []byte("shadow_heartbeat_retry_count: 3}"), []byte("shadow_heartbeat_retry_count: 3, delay_notification: "+delay+"}"), 1)
				if !bytes.Contains(raw, []byte("delay_notification: "+delay)) {
					t.Fatalf("%s: no transport line to extend", cfg)
				}
				if err := os.WriteFile(cfg, raw, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			hb := startUmbra(t, cfgB, b)
			hb.dumpLogIfFailed()
			ha := startUmbra(t, cfgA, a)
			sink.tooBig.Store(c.refit)
			sent := time.Now()
			ret := ""
			if c.refit {
				ret = " RET=FULL"
			}
			rs := rawDial(t, a)
			rs.cmd("EHLO client.example", "250")
			rs.cmd("MAIL FROM:<a@example.org>"+ret, "250")
			rs.cmd("RCPT TO:<x@remote.example>", "250")
			rs.cmd("RCPT TO:<y@remote.example>", "250")
			rs.cmd("DATA", "354")
			r := rs.cmd("Subject: once\r\n\r\nhello\r\n.", "")
			rs.cmd("QUIT", "221")
			if reply := r[len(r)-1]; !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
				ha.dumpLog()
				t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
			}
			events := func(cfg, event string) string {
				out, _ := cli(t, cfg, "track", "--json", "--event", event)
				return out
			}
			waitCond(t, "hub-a's failure DSN for x@ to reach the sender", 60*time.Second, func() bool { return sink.dsns("failed") == 1 })
			waitCond(t, "hub-b to hear that x@ is done (the partial discard written when the DSN left)", 30*time.Second, func() bool {
				return strings.Contains(events(cfgB, "discard"), "partial discard notification from hub-a")
			})
			if c.killAfter == "delayed" {
				waitCond(t, "hub-a's delay DSN for y@ to reach the sender", 60*time.Second, func() bool { return sink.dsns("delayed") == 1 })
				waitCond(t, "hub-b to hear that the delay DSN went (the delay note)", 30*time.Second, func() bool {
					return strings.Contains(events(cfgB, "discard"), "delay note from hub-a")
				})
			}
			// The DSNs that left are messages of hub-a's own, copied to
			// hub-b too: a kill before hub-b hears their discard makes
			// the external duplicate README's "Not promised" names (a
			// message that left, its holder not yet told). This test is
			// about the recipients' DSNs, not that window: hub-b holds
			// the original's copy alone before the kill.
			p := &shadowPair{}
			waitCond(t, "hub-b to hold the original's copy alone (the DSNs that left discarded)", 30*time.Second, func() bool {
				return p.queued(t, cfgB)["shadow:hub-a"] == 1
			})
			ha.kill()
			if c.killAfter == "failed" && sink.dsns("delayed") != 0 && !strings.Contains(events(cfgB, "discard"), "delay note from hub-a") {
				// The machine was too slow to kill hub-a before its notice
				// was due, and the note may not have reached hub-b: the
				// second case's rule, not this one's, would decide.
				t.Skip("hub-a made its delay DSN before it was killed; this case needs the kill before delay_notification")
			}
			waitCond(t, "hub-b to take the copy over", 60*time.Second, func() bool {
				return strings.Contains(events(cfgB, "takeover"), `"event": "takeover"`)
			})
			waitCond(t, "the sender's one delay DSN", 60*time.Second, func() bool { return sink.dsns("delayed") >= 1 })
			// y@ stays down past hub-b's own delay_notification, and hub-b
			// tries it once more after that: a second delay DSN would be
			// made by that attempt's commit.
			dueB, err := time.ParseDuration(c.delayB)
			if err != nil {
				t.Fatal(err)
			}
			if wait := time.Until(sent.Add(dueB + time.Second)); wait > 0 {
				time.Sleep(wait)
			}
			defers := func() int { return strings.Count(events(cfgB, "defer"), `"event": "defer"`) }
			n := defers()
			waitCond(t, "hub-b to try y@ after its delay_notification", 30*time.Second, func() bool { return defers() > n })
			sink.down.Store(false)
			waitCond(t, "y@ to be delivered", 60*time.Second, func() bool { return sink.count("y@remote.example") >= 1 })
			waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, cfgB)) == 0 })
			time.Sleep(2 * time.Second) // a second DSN or copy on its way would land now
			if n := sink.dsns("failed"); n != 1 {
				t.Errorf("the sender got %d failure DSNs for x@, want 1", n)
			}
			if n := sink.dsns("delayed"); n != 1 {
				t.Errorf("the sender got %d delay DSNs for y@, want 1", n)
			}
			if n := sink.count("y@remote.example"); n != 1 {
				t.Errorf("y@ got the message %d times, want once", n)
			}
			sink.mu.Lock()
			big := sink.big
			first := ""
			if got := sink.got["a@example.org"]; len(got) > 0 {
				first = got[0]
			}
			sink.mu.Unlock()
			if want := map[bool]int{true: 1}[c.refit]; big != want {
				t.Errorf("%d failure DSNs returning the whole message were refused as too big, want %d", big, want)
			}
			if c.refit && sink.dsns("failed") == 1 && !strings.Contains(first, "only its headers are returned") {
				t.Errorf("the failure DSN that reached the sender is not the one sent again with the headers only:\n%.800s", first)
			}
			if n := sink.refusals(); n != 1 {
				t.Errorf("x@ was tried %d times, want once (hub-a's attempt; hub-b heard it was done)", n)
			}
		})
	}
}
