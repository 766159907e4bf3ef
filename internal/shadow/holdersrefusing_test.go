package shadow

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// refusingCopier is a Copier whose holder h1 answers every probe and
// refuses it (a 5xx to XSHADOW), presenting the database its copies were
// made on (own) or not.
type refusingCopier struct{ own bool }

type holderRefusal struct{ own bool }

func (e holderRefusal) Error() string { return "h1 refused the shadow session: " + e.Refusal() }
func (e holderRefusal) Refusal() string {
	return "550 5.7.1 Server id does not match the connection's address"
}
func (e holderRefusal) HoldsItsCopies() bool { return e.own }

func (c refusingCopier) Probe(context.Context, string) (string, error) {
	return "", holderRefusal{own: c.own}
}
func (refusingCopier) Recopy(context.Context, uint64) (string, error) { return "", nil }

// SR-6 from the primary's side (holders49 item 1): a holder that answers
// every probe and refuses it is up. When it presented the database its
// copies were made on, those copies are not lost — it takes them over if
// this server dies —: they are never taken as lost, and nothing says it
// is "not reachable". One that refuses without presenting that database
// may be another host at its address, and its copies are taken as lost
// at the bound as before, but the WARN says it refused, with its reply,
// not that it was not reachable.
func TestSR6RefusingHolderIsNotUnreachable(t *testing.T) {
	for _, own := range []bool{true, false} {
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		var buf bytes.Buffer
		st := &lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 2}}, lost: map[string]time.Time{}}
		h := NewHolders(HoldersConfig{Store: st, Copier: refusingCopier{own: own}, Clock: clk, Interval: time.Second,
			Log: slog.New(slog.NewTextHandler(&buf, nil)), LostAfter: func() time.Duration { return 3 * time.Second }})
		for range 6 {
			h.Pass(context.Background())
			clk.Advance(time.Second)
		}
		what := fmt.Sprintf("presenting its database %v", own)
		_, lost := st.lost["h1"]
		if own && lost {
			t.Errorf("%s: the copies on a holder that answers and refuses were taken as lost:\n%s", what, buf.String())
		}
		if !own && !lost {
			t.Errorf("%s: the copies on a holder that refuses with another database were not taken as lost:\n%s", what, buf.String())
		}
		if strings.Contains(buf.String(), "not reachable") {
			t.Errorf("%s: a holder that answers and refuses is said not reachable:\n%s", what, buf.String())
		}
		if !own && !strings.Contains(buf.String(), "550 5.7.1 Server id does not match") {
			t.Errorf("%s: the WARN does not give the holder's reply:\n%s", what, buf.String())
		}
	}
}

// unprobedWhy is a Copier without a probe to h1 whose error says why and
// what was tried instead (UnprobedHow).
type unprobedWhy struct{ how string }

type unprobedErr struct{ how string }

func (unprobedErr) Error() string         { return "h1: not a server of the topology (no topology)" }
func (unprobedErr) NotProbeable()         {}
func (e unprobedErr) UnprobedHow() string { return e.how }

func (c unprobedWhy) Probe(context.Context, string) (string, error) {
	return "", unprobedErr{how: c.how}
}
func (unprobedWhy) Recopy(context.Context, uint64) (string, error) { return "", nil }

// OPS logs (holders49 item 2): the WARN of copies taken as lost on a
// holder no probe goes to said "no server of this server's topology"
// and "no hand-over of discards reached it" also without a topology, or
// when no address of the holder is known (no hand-over was tried): it
// says what the Copier says was the case.
func TestLostWarnSaysWhyNoProbeGoesToIt(t *testing.T) {
	const how = "no probe goes to it (this server has no topology); no hand-over of discards is tried (no address of it is known here)"
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	st := &heardStore{lostStore: lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"h1": 2}}, lost: map[string]time.Time{}}, heard: map[string]time.Time{}}
	h := NewHolders(HoldersConfig{Store: st, Copier: unprobedWhy{how: how}, Clock: clk, Interval: time.Second,
		Log: slog.New(slog.NewTextHandler(&buf, nil)), LostAfter: func() time.Duration { return 3 * time.Second }})
	for range 6 {
		h.Pass(context.Background())
		clk.Advance(time.Second)
	}
	var warn string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "takeover bound") {
			warn = l
		}
	}
	if warn == "" {
		t.Fatalf("no WARN of the copies taken as lost:\n%s", buf.String())
	}
	if !strings.Contains(warn, how) || strings.Contains(warn, "no server of this server's topology") || strings.Contains(warn, "reached it") {
		t.Errorf("the WARN does not say what was the case (%q): %s", how, warn)
	}
}
