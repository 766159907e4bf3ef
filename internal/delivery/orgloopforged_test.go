package delivery

import (
	"strings"
	"testing"

	"umbra/internal/routing"
)

// rdops49: whether a message was here before decides that a relay back
// to the server it came from, or a hop limit reached, waits (451 4.4.6)
// instead of failing. Only trace fields written by servers of the
// organisation may decide it: the fields below the organisation's first
// receipt (from a client that is not one of its servers) are the
// sender's to write. Else anyone writing two "by hub-a (umbra)" lines
// makes mail that legitimately goes back (internet → edge → hub-a →
// edge) wait to expiry, and a genuine loop through the internet (an MX
// pointing back) wait instead of failing at the hop limit.
func orgLoopTopology(t *testing.T) *routing.Topology {
	t.Helper()
	tp, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "edge", Role: routing.RoleHub, Site: "a", Address: "10.0.0.1:25"},
			{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "10.0.0.2:25"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func traceBody(lines ...string) []byte {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("Received: " + l + ";\r\n\tMon, 7 Dec 2026 17:00:00 +0000\r\n")
	}
	b.WriteString("Subject: x\r\n\r\nbody\r\n")
	return []byte(b.String())
}

func rcv(helo, lit, by string) string {
	return "from " + helo + " (" + lit + ")\r\n\tby " + by + " (umbra) with ESMTP id 1"
}

func TestVisitedBeforeTrustsOnlyTheOrganisationsTrace(t *testing.T) {
	tp := orgLoopTopology(t)
	forged := traceBody(
		rcv("edge", "[10.0.0.1]", "hub-a.example"),
		rcv("evil.test", "[203.0.113.5]", "edge.example"),
		rcv("x", "[10.0.0.1]", "hub-a.example"), // written by the sender
		rcv("x", "[10.0.0.1]", "hub-a.example"),
	)
	if visitedBefore(tp, forged, "hub-a.example") {
		t.Errorf("forged trace fields below the organisation's first receipt make the message count as here before")
	}
	internetLoop := traceBody(
		rcv("edge", "[10.0.0.1]", "hub-a.example"),
		rcv("mx.far.test", "[198.51.100.7]", "edge.example"), // came back from the internet
		rcv("edge", "[10.0.0.2]", "mx.far.test"),
		rcv("hub-a", "[10.0.0.2]", "edge.example"),
		rcv("edge", "[10.0.0.1]", "hub-a.example"),
	)
	if visitedBefore(tp, internetLoop, "hub-a.example") {
		t.Errorf("a loop through a server outside the organisation counts as the organisation's ring")
	}
	ring := traceBody(
		rcv("edge", "[10.0.0.1]", "hub-a.example"),
		rcv("hub-a", "[10.0.0.2]", "edge.example"),
		rcv("edge", "[IPv6:::ffff:10.0.0.1]", "hub-a.example"),
		rcv("evil.test", "[203.0.113.5]", "edge.example"),
	)
	if !visitedBefore(tp, ring, "hub-a.example") {
		t.Errorf("a ring of the organisation's servers is not found")
	}
	once := traceBody(
		rcv("edge", "[10.0.0.1]", "hub-a.example"),
		rcv("evil.test", "[203.0.113.5]", "edge.example"),
	)
	if visitedBefore(tp, once, "hub-a.example") {
		t.Errorf("a first visit counts as here before")
	}
}

// FuzzVisitedBefore: the trace of a message is the sender's to write;
// reading it never panics, and a body whose only trace field is this
// server's is never here before.
func FuzzVisitedBefore(f *testing.F) {
	f.Add([]byte("Received: from a ([10.0.0.1])\r\n\tby hub-a (umbra) with ESMTP id 1\r\nReceived: from b ([10.0.0.2]) by edge (umbra)\r\n\r\n"), "hub-a")
	f.Add([]byte("Received: from ( ([IPv6:]) by by (umbra)\r\n\r\n"), "by")
	f.Add([]byte("Received: ([) by\r\n\r\n"), "(umbra)")
	tp, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}},
		Servers: []routing.Server{{Name: "edge", Role: routing.RoleHub, Site: "a", Address: "10.0.0.1:25"}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, host string) {
		visitedBefore(tp, body, host)
		one := append([]byte("Received: from x ([10.0.0.1]) by "+host+" (umbra) with SMTP\r\n"), []byte("Subject: y\r\n\r\n")...)
		if visitedBefore(tp, one, host) {
			t.Errorf("one trace field counts as two: %q", one)
		}
	})
}
