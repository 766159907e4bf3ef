package console

import (
	"strings"
	"testing"
	"time"

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
