package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// handoverRacer is a batching tracking receiver that makes the race of
// front47 F3 happen every time: at the first batch opened once the
// relay's results are committed (the record left Active) and before its
// events are written, it applies the next hop's discard of the copy —
// as a hub that delivered at once does, on its watch session.
type handoverRacer struct {
	q      *Manager
	id     ID
	sid    string
	t      *testing.T
	raced  bool
	dsnOf  bool // the DSNs made on the message are tracked too
	mu     sync.Mutex
	names  []string
	inDisc bool
}

func (h *handoverRacer) Event(name string, m *Message, r *Recipient, reply string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.ID == h.id || h.dsnOf && name == "dsn" && m.ReportOn == h.id {
		h.names = append(h.names, name)
	}
}

func (h *handoverRacer) Batch() (Events, func()) {
	if !h.raced && !h.inDisc && h.q != nil {
		if m, err := h.q.Message(h.id); err == nil && m.State != Active {
			h.raced = true
			h.inDisc = true
			if n, err := h.q.ApplyDiscards("hub-b", []string{h.sid}); n != 1 || err != nil {
				h.t.Errorf("discard of the relayed copy: %d %v", n, err)
			}
			h.inDisc = false
		}
	}
	return h, func() {}
}

func (h *handoverRacer) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.names...)
}

// SR-11, OPS-2 (front47 F3): the tracking log says what happened in the
// order it happened. A relay's hand-over ("shadow": the copy kept here
// for the next hop) is written after its commit; the next hop's discard
// of that copy, committed by the watch session right after it, must not
// be written before it — `umbra track` showed 10 of 553 relayed
// messages discarded before they were handed over.
func TestHandoverTrackedBeforeItsDiscard(t *testing.T) {
	s := openTest(t)
	h := &handoverRacer{t: t}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		return []Result{{Rcpt: 0, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"}}
	})
	q := NewManager(s, d, ManagerConfig{Events: h})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	m := msg(s, "a@example.org", "x@c.example")
	h.id, h.sid = m.ID, m.ID.String()+"-b"
	h.q = q
	q.Start(ctx)
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the copy discarded", func() bool { _, err := q.Message(m.ID); return errors.Is(err, ErrNotFound) })
	waitFor(t, "its discard tracked", func() bool {
		for _, n := range h.events() {
			if n == "discard" {
				return true
			}
		}
		return false
	})
	if !h.raced {
		t.Fatal("the discard was never applied between the relay's commit and its events")
	}
	shadow, discard := -1, -1
	for i, n := range h.events() {
		switch n {
		case "shadow":
			if shadow < 0 {
				shadow = i
			}
		case "discard":
			if discard < 0 {
				discard = i
			}
		}
	}
	if shadow < 0 || discard < shadow {
		t.Fatalf("events %v: the discard is written before the hand-over it ends", h.events())
	}
}

// SR-11 (front47 F3, its sibling): the events of partial discards, and
// of whole ones, committed while the events of an earlier commit of the
// same message are still owed, are written after those, in their order.
func TestPartialDiscardEventWaitsForOwedEvents(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	var got []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, name+" "+reply)
	})
	q := NewManager(s, nil, ManagerConfig{Events: ev})
	m := msg(s, "a@example.org", "x@c.example")
	q.evOrder.hold(m.ID) // a results commit whose events are not written yet
	q.partialEvents("hub-b", []partialSettled{{m: m, rc: m.Rcpts[0]}})
	q.discardEvents("hub-b", []*Message{m})
	mu.Lock()
	early := len(got)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("discard events written while the hand-over's were owed: %q", got)
	}
	q.ev.Event("shadow", m, &m.Rcpts[0], "handed over") // the owed events, then the hold's end
	q.evOrder.release(m.ID)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || !strings.HasPrefix(got[0], "shadow") || !strings.HasPrefix(got[1], "discard partial discard notification from hub-b") ||
		!strings.HasPrefix(got[2], "discard shadow copy discarded by hub-b") {
		t.Fatalf("events %q: want the hand-over, then the partial discard, then the discard", got)
	}
}

// SR-11, OPS-2 (front48 item 3): the events a results commit writes
// after its recipients' — the DSN it made — come before the events of a
// later commit of the same message: the next hop's discard of the copy
// handed over by that attempt, applied while the attempt's events were
// being written. The attempt relays one recipient (its copy kept here)
// and fails the other (a DSN in the same commit); the discard was
// written between the hand-over and the DSN, as the hold ended before
// the commit's own later events.
func TestResultsCommitEventsAllBeforeALaterCommits(t *testing.T) {
	s := openTest(t)
	h := &handoverRacer{t: t}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			if i == 0 {
				out = append(out, Result{Rcpt: 0, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
			} else {
				out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Reply: "550 5.1.1 no such user"})
			}
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Events: h})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	m := msg(s, "a@example.org", "x@c.example", "y@c.example")
	h.id, h.sid = m.ID, m.ID.String()+"-b"
	h.q = q
	h.dsnOf = true
	q.Start(ctx)
	q.Submit(ctx, m, []byte(body))
	waitFor(t, "the copy discarded and the DSN tracked", func() bool {
		ev := h.events()
		return slices.Contains(ev, "discard") && slices.Contains(ev, "dsn")
	})
	if !h.raced {
		t.Fatal("the discard was never applied between the attempt's commit and its events")
	}
	ev := h.events()
	if slices.Index(ev, "discard") < slices.Index(ev, "dsn") {
		t.Fatalf("events %v: the discard, committed after the attempt, is written before the DSN the attempt made", ev)
	}
}
