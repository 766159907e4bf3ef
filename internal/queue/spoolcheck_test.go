package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A message whose spool file is missing or cut short when the queue
// starts is in the poison queue as soon as Start returns — not `ready`
// until an attempt that may be hours away (a retry wait, a suspended
// queue) — with the reason; one the operator suspended stays suspended.
func TestDamagedSpoolHeldAsPoisonAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(st State) (*Message, Body) {
		b := spooled(t, s, bigContent(100<<10))
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = st, time.Now().Add(time.Hour) // not due: no attempt would find it
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	gone, gb := put(Ready)
	short, sb := put(Ready)
	held, hb := put(Suspended)
	whole, _ := put(Ready)
	s.Close()
	for _, b := range []Body{gb, hb} {
		p, _, _ := b.File()
		os.Remove(p)
	}
	p, _, _ := sb.File()
	os.Truncate(p, 1000)
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	state := func(id ID) *Message {
		m, err := q.Message(id)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		m    *Message
		want string
	}{{gone, "missing"}, {short, "bytes, the record names"}} {
		m := state(c.m.ID)
		if m.State != Poison || !strings.Contains(m.LastError, "body unreadable") || !strings.Contains(m.LastError, c.want) {
			t.Fatalf("message %s after Start: %s %q; want poison, body unreadable, %q", m.ID, m.State, m.LastError, c.want)
		}
	}
	if m := state(held.ID); m.State != Suspended {
		t.Fatalf("a suspended message with a missing file is %s; the operator's hold stays", m.State)
	}
	if m := state(whole.ID); m.State != Ready {
		t.Fatalf("a message with its file whole is %s", m.State)
	}
}
