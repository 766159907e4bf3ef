package delivery

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SR-6: the proof that a primary is of an
// earlier release (bucket digestless) ends, the README says, "once it
// advertises its digest (upgraded)". A busy primary's contacts come from
// the delivery sessions this server opens to it: each ends with a
// completed discard query (Contact), which resets the heartbeat timer,
// so no heartbeat — the only session that hands SessionDigest what it
// saw — runs while they go on. A completed relay session to a primary
// that now advertises its digest must tell the recorder so; otherwise
// the proof of the release before the upgrade stays, and after the
// upgraded primary dies, anything without a digest that refuses at its
// address keeps its copies here until they expire (rt18 F4 undone).
func TestSR6RelaySessionNotesWhetherPrimaryAdvertisesDigest(t *testing.T) {
	for _, c := range []struct {
		name, digest string
	}{
		// Upgraded: the proof of the release before must end.
		{"upgraded, advertises its digest", queue.DatabaseDigest("primary-db")},
		// Still of the earlier release: the proof the README promises
		// for a rolling upgrade, which a busy primary's heartbeats
		// (never due while its relays are contacts) never make.
		{"earlier release, no digest", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ehlo := "250-primary.test\r\n"
			if c.digest != "" {
				ehlo += "250-XSHADOWDB " + c.digest + "\r\n"
			}
			addr := scriptedPeer(t, ehlo+"250 XSHADOW\r\n", func(cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "XSHADOW"):
					return "250 primary-db\r\n"
				case strings.HasPrefix(cmd, "XQUERYDISCARD"):
					return "250 2.0.0 0 discard notifications\r\n"
				}
				return "250 2.0.0 ok\r\n"
			})
			sc := config.SendConnector{Name: "to-hub", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
				SmartHosts: []string{addr}, TLS: config.TLSNone, SendXShadow: true}
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
			rec := &digestRecorder{earlier: c.digest != ""} // the upgraded one was proved of the earlier release before
			d.st.Load().cfg.ShadowServerID, d.st.Load().cfg.Shadows = "edge1", rec
			m := message("r@example.net")
			if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.ShadowedOK {
				t.Fatalf("delivery: %+v", res)
			}
			rec.shadowRecorder.mu.Lock()
			contacts := len(rec.shadowRecorder.contacts)
			rec.shadowRecorder.mu.Unlock()
			if contacts == 0 {
				t.Fatal("the relay session completed no discard query (no Contact): the test proves nothing")
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			want := " primary-db " + c.digest
			for _, n := range rec.noted {
				if strings.HasSuffix(n, want) {
					return
				}
			}
			t.Fatalf("a completed relay session (a contact: no heartbeat due after it) told the recorder %q; want one ending %q", rec.noted, want)
		})
	}
}
