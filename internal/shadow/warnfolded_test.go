package shadow

import (
	"testing"
	"time"

	"umbra/internal/clock"
)

// OPS logs: the WARN of refused sessions is paced per peer and session
// kind, and a peer is one server whatever the spelling of its name (the
// recorder keeps its refusals by nameKey). Paced by the exact spelling,
// a peer stating its name in another case — a probe to the topology's
// "hub-b", a session that says "HUB-B" — had each spelling WARNed at
// every refusal of the other within refusalLogEvery.
func TestRefusalWarnPacedByFoldedName(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{}, ps: map[string]*Primary{}}
	r := NewRecorder(st, nil, nil)
	r.clk = clk
	const reply = "550 5.7.1 Server id does not match the connection's address"
	if !r.SessionRefused("hub-b", SessionReceipt, reply, "") {
		t.Fatal("the first refusal of a peer is not WARNed")
	}
	clk.Advance(time.Second)
	if r.SessionRefused("HUB-B", SessionReceipt, reply, "") {
		t.Error("the same peer, its name in another case, is WARNed again within the pacing")
	}
	clk.Advance(refusalLogEvery)
	if !r.SessionRefused("Hub-B", SessionReceipt, reply, "") {
		t.Error("a refusal past the pacing is not WARNed")
	}
}

// A primary's session let in ends the pacing of its refusals' WARN
// whatever spelling the refusal was recorded under: its next refusal is
// a new state, WARNed at once.
func TestRefusalWarnPacingEndsUnderAnotherSpelling(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{}, ps: map[string]*Primary{}}
	r := NewRecorder(st, nil, nil)
	r.clk = clk
	const reply = "550 5.7.1 shadow sessions are not accepted here"
	if !r.Refused("HUB-B", SessionHeartbeat, reply) {
		t.Fatal("the first refusal of a primary is not WARNed")
	}
	clk.Advance(time.Second)
	r.admitted("hub-b", time.Time{})
	clk.Advance(time.Second)
	if !r.Refused("HUB-B", SessionHeartbeat, reply) {
		t.Error("a refusal after a session let in under another spelling is not WARNed: the pacing outlived the refusal")
	}
}
