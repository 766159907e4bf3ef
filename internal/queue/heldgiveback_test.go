package queue

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rt21a M1: an operator suspends a copy this server took over from
// hub-b; hub-b answers again with the database the copy was taken over
// from, and the give-back hands the message back. The hold goes with
// it: the give-back's commit writes a held note under hub-b's database,
// listed to a query that says HELD (shadow verbs 16), and the give-back
// is logged at WARN. A query without HELD — a primary below 16, which
// cannot take the hold — lists none, forgets the note and says at WARN
// that the hold was not carried.
func TestGiveBackOfHeldCopyCarriesHold(t *testing.T) {
	var logs lockedBuffer
	r := newTakebackRigLog(t, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	m := r.submit(t, "x@b.example")
	r.failHeartbeats(t)
	waitFor(t, "the taken-over copy's attempt", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	if err := r.q.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.q.TakenDoneHeldFor("db1", 10); n != nil {
		t.Fatalf("a held note before the hold: %+v", n)
	}
	if err := r.q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	res, err := r.q.ShadowContact("hub-b", "db1", nil)
	if err != nil || res.GivenBack != 1 {
		t.Fatalf("contact: %+v %v; want the copy given back", res, err)
	}
	var warn string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "held by the administrator") {
			warn = l
		}
	}
	if warn == "" || !strings.Contains(warn, "msg_id="+m.ID.String()) || !strings.Contains(warn, "primary=hub-b") {
		t.Fatalf("no WARN naming the held message given back to hub-b:\n%s", logs.String())
	}
	want := TakenDone{ID: m.ID.String() + "-b", Kind: TakenHeld}
	if n, _ := r.q.TakenDoneHeldFor("db2", 10); n != nil {
		t.Fatalf("held notes for another database: %+v", n)
	}
	notes, _ := r.q.TakenDoneHeldFor("db1", 10)
	if len(notes) != 1 || notes[0] != want {
		t.Fatalf("held notes %+v, want [%+v]", notes, want)
	}
	// An older primary's question: nothing listed, the note forgotten
	// with a WARN.
	if n, ack := r.q.TakenDoneFor("db1", 10); n != nil || ack != nil {
		t.Fatalf("a query without HELD listed %+v", n)
	}
	if !strings.Contains(logs.String(), "the hold was not carried") || !strings.Contains(logs.String(), "shadow_id="+want.ID) {
		t.Fatalf("no WARN that the older primary could not take the hold:\n%s", logs.String())
	}
	if n, _ := r.q.TakenDoneHeldFor("db1", 10); n != nil {
		t.Fatalf("held note kept after an older primary's question: %+v", n)
	}
}

// rt21a M1, the primary's side: a held note from the server keeping the
// copy suspends the original, as umbra message suspend would — in
// delivery it is left to its attempt (counted: told again); suspended,
// it owes that server the discard of its copy and says who held it;
// told again, nothing changes; resumed, it is due.
func TestHeldNoteSuspendsOriginal(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs lockedBuffer
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	const org = "0123456789abcdef0123456789abcdef"
	o := msg(pS, "s@example.org", "a@x.example", "b@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	notes := []TakenDone{{ID: org, Kind: TakenHeld}}
	if _, _, err := qP.ShadowFinishedElsewhere("hub-c", notes); err != nil {
		t.Fatal(err)
	}
	if m, _ := qP.Message(o.ID); m.State != Ready {
		t.Fatalf("a note from a server that does not keep the copy: state %v", m.State)
	}
	setState(t, pS, o.ID, Active)
	if _, busy, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || busy != 1 {
		t.Fatalf("a record in delivery: %d in delivery (%v); want 1", busy, err)
	}
	setState(t, pS, o.ID, Ready)
	if _, _, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil {
		t.Fatal(err)
	}
	m, err := qP.Message(o.ID)
	if err != nil || m.State != Suspended || len(m.Pending()) != 2 || !strings.Contains(m.LastError, "hub-b") {
		t.Fatalf("after the held note: %+v %v; want suspended, 2 pending, held by hub-b", m, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "msg_id="+o.ID.String()) {
		t.Fatalf("no WARN for the message held:\n%s", logs.String())
	}
	if d, _ := qP.Discards("hub-b", 10); !slices.Contains(d, org) {
		t.Fatalf("hub-b's copy not owed its discard: %v", d)
	}
	if _, busy, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || busy != 0 {
		t.Fatalf("told again: %d in delivery, %v", busy, err)
	}
	if err := qP.ResumeMessage(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if m, _ := qP.Message(o.ID); m.State != Ready || m.LastError != "" {
		t.Fatalf("resumed: state %v, %q", m.State, m.LastError)
	}
}
