package console

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/shadow"
)

// The map tells a primary that refuses this server's shadow sessions
// from a healthy or a failing one, as shadow list does (rt14 F7): state
// refused, with its reply; it is alive, so not down, and nothing failed.
func TestMapShowsRefusingPrimary(t *testing.T) {
	s := &Server{cfg: Config{Self: "hub1.example.org", Health: NewHealth(nil), Shadows: func() []shadow.PrimaryStatus {
		return []shadow.PrimaryStatus{{Name: "hub2.example.org", LastContact: time.Now().Add(-time.Minute),
			Refused: "535 5.7.8 Authentication failed", RefusedSince: time.Now().Add(-time.Minute), LastRefused: time.Now()}}
	}}}
	hs := s.health(&Topology{Servers: []TopoServer{{Name: "hub2.example.org", Role: "hub", Site: "west", Address: "127.0.0.2:25"}}})
	if len(hs) != 1 || hs[0].State != "refused" || !strings.Contains(hs[0].Heartbeat, "535 5.7.8 Authentication failed") {
		t.Fatalf("health of a refusing primary: %+v", hs)
	}
	if stateColour["refused"] == "" {
		t.Fatal("no colour for the refused state")
	}
}
