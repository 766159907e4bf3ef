package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"umbra/internal/tracking"
)

// rt F0 (session 11): a primary that died a moment after one of its own
// sessions with the shadow server (here the push of a copy on receipt)
// while no heartbeat had failed was taken over 6.3 s and 9.6 s after that
// session with 5 s × 2: the heartbeats kept the schedule of the last
// completed discard query, and two of them failed before timeout ×
// retries had passed since the push. The promise (README, Heartbeats and
// takeover): never a takeover before timeout × retries after the last
// contact of any kind. The same holds when the shadow server itself was
// restarted after that contact (it remembers contacts in memory only, so
// its start counts as one).
//
// hub-a (the primary, shadow on receipt) pushes its copies to hub-b,
// which watches it with heartbeats every 3 s, 2 failures in a row. A
// first message starts the watch; the second is pushed while it runs,
// and hub-a is killed right after that 250. hub-b's tracking log gives
// both times: the copy's "shadow" event and its "takeover".
func TestNoTakeoverBeforeBoundAfterLastContact(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		name := "primary killed after its push"
		if restart {
			name = "shadow server restarted after the push"
		}
		t.Run(name, func(t *testing.T) {
			a, b, _, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
			const timeout, retries = 3 * time.Second, 2
			editConfig(t, cfgB, "shadow_heartbeat_timeout: 1s, shadow_heartbeat_retry_count: 3",
				"shadow_heartbeat_timeout: 3s, shadow_heartbeat_retry_count: 2")
			editConfig(t, cfgA, `metrics_listen: ""}`, `metrics_listen: "", log_level: debug}`)
			hb := startUmbra(t, cfgB, b)
			ha := startUmbra(t, cfgA, a)
			if reply := rawSend(t, a, "first@example.org", []string{"b@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
				ha.dumpLog()
				t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
			}
			p := &shadowPair{}
			waitCond(t, "hub-b to hold the first copy", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 1 })
			// Past the first contact of the watch it started, so that
			// the heartbeats keep a schedule of their own (a fixed 2 s
			// sleep could end before it on a loaded machine).
			waitWatchContact(t, ha)
			sent := time.Now() // before the push of the late copy, and its contact
			if reply := rawSend(t, a, "late@example.org", []string{"b@remote.example"}, "Subject: late\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
				ha.dumpLog()
				t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
			}
			if restart {
				hb.kill()
			}
			ha.kill()
			if restart {
				hb = startUmbra(t, cfgB, b)
			}
			hb.dumpLogIfFailed()
			var taken time.Time
			waitCond(t, "hub-b to take the late copy over", 60*time.Second, func() bool {
				out, _ := cli(t, cfgB, "track", "--json", "--sender", "late@example.org")
				var es []tracking.Entry
				json.Unmarshal([]byte(out), &es)
				for _, e := range es {
					if e.Event == "takeover" {
						taken = e.Time
					}
				}
				return !taken.IsZero()
			})
			// The bound counts from no earlier than the send of the late
			// message, which its push and contact followed. (The copy's
			// tracking event, written after the push's commit, could be
			// later than the contact by more than any margin on a
			// loaded machine.)
			t.Logf("taken over %v after the send", taken.Sub(sent))
			if got, bound := taken.Sub(sent), timeout*retries; got < bound {
				t.Fatalf("taken over %v after the send the primary's push followed, before timeout × retries (%v)", got, bound)
			}
		})
	}
}
