package delivery

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitHop waits, within a bound on the test (not a timing assertion),
// until cond holds of the hop.
func waitHop(t *testing.T, r *faultRig, what string, cond func(h *faultHop) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.hop.mu.Lock()
		ok := cond(r.hop)
		r.hop.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened: %q", what, r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// delayNotice advances the rig's clock by step until a delay notice
// reaches the sender, and returns it.
func delayNotice(t *testing.T, r *faultRig, step time.Duration) string {
	t.Helper()
	for i := 0; i < 40; i++ {
		r.clk.Advance(step)
		time.Sleep(20 * time.Millisecond)
		for _, b := range r.home.got("sender@example.org") {
			if strings.Contains(b, "Action: delayed") {
				return b
			}
		}
	}
	t.Fatalf("no delay DSN beside the stalled envelope: %q", r.ev.events)
	return ""
}

// SPEC Q-3 (rt44 delivery2 F1): a delay notice made while the attempt
// is stalled in the envelope — a later RCPT's reply not come — keeps
// the replies the next hop gave the recipients before it: one refused
// for good (550) is not in the notice, one refused for now (450) reads
// that host's reply (its own Status), and only the recipient still
// without a reply reads the stall. Pipelined, the replies before the
// stall were held back until every RCPT was answered, and the notice
// said of the 550 and the 450 "stopped answering during the envelope",
// Status 4.4.2. Lock-step and pipelined.
func TestQ3DelayNoticeEnvelopeStallKeepsRcptReplies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pipelining bool
		port       string
	}{{"one command at a time", false, "3941"}, {"pipelined", true, "3942"}} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, "127.0.0.170:"+tc.port+"3", false)
			hop.mu.Lock()
			hop.pipelining = tc.pipelining
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.170", "127.0.0.170:"+tc.port+"4", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
			r.submit(t, "a@remote.test", "pfail1@remote.test", "rrefuse1@remote.test", "rhang1@remote.test")
			waitHop(t, r, "the RCPT's stall", func(h *faultHop) bool { return h.rcptsHung == 1 })
			dsn := delayNotice(t, r, 5*time.Second)
			if strings.Contains(dsn, "pfail1@remote.test") {
				t.Errorf("the delay notice lists a recipient its next hop refused for good:\n%s", dsn)
			}
			if n := strings.Count(dsn, "stopped answering during the envelope"); n != 2 {
				t.Errorf("%d recipients read the envelope's stall, want 2 (a, accepted and waiting with it, and rhang1):\n%s", n, dsn)
			}
			if strings.Contains(dsn, "rrefuse1@remote.test>: not delivered yet: its next hop stopped answering") {
				t.Errorf("the recipient refused for now reads the stall, not its host's reply:\n%s", dsn)
			}
			if !strings.Contains(dsn, "rhang1@remote.test>: not delivered yet: its next hop stopped answering during the envelope") {
				t.Errorf("the notice does not report the stalled recipient:\n%s", dsn)
			}
			if !strings.Contains(dsn, "Status: 4.2.1") || !strings.Contains(dsn, "450 4.2.1 mailbox busy") {
				t.Errorf("the recipient refused for now does not read its host's reply:\n%s", dsn)
			}
		})
	}
}

// SPEC Q-3 (rt44 delivery2 F2): the wait on a host a running attempt
// shows (WaitingOn: message show, queue list, the admin API's
// waiting_on) and a delay notice's "no reply for N s" are since the
// host's last reply: each reply to an RCPT of the envelope moves it. A
// host answering the RCPTs one after another was shown as silent since
// the envelope began. Lock-step and pipelined.
func TestQ3StallSinceIsTheHostsLastReply(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pipelining bool
		port       string
	}{{"one command at a time", false, "3943"}, {"pipelined", true, "3944"}} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, "127.0.0.170:"+tc.port+"3", false)
			gate := make(chan struct{})
			hop.mu.Lock()
			hop.pipelining, hop.rcptGate = tc.pipelining, gate
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.170", "127.0.0.170:"+tc.port+"4", hop, 0, 60*time.Second, 60*time.Second, 30*time.Second)
			id := r.submit(t, "a@remote.test", "rgate1@remote.test", "rhang1@remote.test")
			waitHop(t, r, "the gated RCPT", func(h *faultHop) bool { return h.gated == 1 })
			r.clk.Advance(20 * time.Second)
			gate <- struct{}{} // the host answers rgate1's RCPT at t0+20s
			waitHop(t, r, "the RCPT's stall", func(h *faultHop) bool { return h.rcptsHung == 1 })
			want := r.t0.Add(20 * time.Second)
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			for {
				m, err := r.q.Message(id)
				if err != nil {
					t.Fatal(err)
				}
				w := r.q.StateView().WaitingOn(m, 2)
				if w != nil && w.Step == "the envelope (MAIL, RCPT)" && w.Since.Equal(want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("rhang1 waits on %+v, want the envelope since the host's last reply, %s", w, want)
				}
				time.Sleep(5 * time.Millisecond)
			}
			// The notice is made at one of the clock's steps, t0+20s+15s·k
			// (k ≥ 1): since the host's last reply, at t0+20s, that is
			// a multiple of 15 s; since the envelope began it is not.
			dsn := delayNotice(t, r, 15*time.Second)
			_, rest, ok := strings.Cut(dsn, "rhang1@remote.test>: not delivered yet: its next hop stopped answering during the envelope (MAIL, RCPT): no reply for ")
			n, err := strconv.Atoi(strings.Fields(rest + " x")[0])
			if !ok || err != nil || n <= 0 || n%15 != 0 {
				t.Errorf("the notice's stall of rhang1 is not since the host's last reply (t0+20s):\n%s", dsn)
			}
		})
	}
}
