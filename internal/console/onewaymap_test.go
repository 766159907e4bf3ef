package console

import (
	"bytes"

	"strings"
	"testing"
	"time"
	"umbra/internal/admin"

	"umbra/internal/shadow"
)

// The map tells a primary this server cannot reach while its own
// sessions reach this server (a link failing one way) as shadow list
// does: one way, no takeover while they go on, whether its session just
// reset the failed heartbeats (0) or the next one failed (1); it read
// ok and unreachable by turns (partition49).
func TestMapShowsOneWayPrimary(t *testing.T) {
	for _, failures := range []int{0, 1} {
		s := &Server{cfg: Config{Self: "hub1.example.org", Health: NewHealth(nil), Shadows: func() []shadow.PrimaryStatus {
			return []shadow.PrimaryStatus{{Name: "hub2.example.org", LastContact: time.Now().Add(-time.Second), Failures: failures,
				Unreachable: "dial tcp 127.0.0.2:25: connection refused", ReachesHere: time.Now().Add(-time.Second),
				TakeoverAt: time.Now().Add(time.Minute)}}
		}}}
		hs := s.health(&Topology{Servers: []TopoServer{{Name: "hub2.example.org", Role: "hub", Site: "west", Address: "127.0.0.2:25"}}})
		if len(hs) != 1 || hs[0].State != "failing" || !strings.Contains(hs[0].Heartbeat, "one way") ||
			!strings.Contains(hs[0].Heartbeat, "no takeover while it does") || !strings.Contains(hs[0].Heartbeat, "connection refused") {
			t.Errorf("health of a primary reaching this server one way, %d failed heartbeats: %+v", failures, hs)
		}
	}
}

// The shadow page says a primary reaches this server one way as shadow
// list's WHY does, and whether it hands its discards here itself; it
// read "unreachable: … (takeover at …)".
func TestShadowPageShowsOneWay(t *testing.T) {
	now := time.Now()
	v := admin.ShadowView{Primary: "hub2.example.org", Copies: 1, State: "one-way", Unreachable: "dial tcp: connection refused",
		TakeoverAt: now.Add(time.Minute), ReachesHere: now.Add(-2 * time.Second), PushedHere: now.Add(-3 * time.Second)}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "shadows.html", page{Now: now, Data: []admin.ShadowView{v}}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"this server cannot reach it (dial tcp: connection refused)", "it reaches this server", "no takeover while it does", "its discards handed here by it"} {
		if !strings.Contains(got, want) {
			t.Errorf("shadow page lacks %q:\n%s", want, got)
		}
	}
}
