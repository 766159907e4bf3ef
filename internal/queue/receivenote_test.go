package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// SR-11 (rdsr1749): the tracking "receive" event of a message whose
// commit named the shadow server keeping its copy on receipt names that
// server, so that a search by org id on the primary says where the copy
// is expected (a copy left held elsewhere can be matched to it).
func TestReceiveEventNamesShadowServer(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	replies := map[string]string{}
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		mu.Lock()
		defer mu.Unlock()
		if name == "receive" {
			replies[m.OrgID] = reply
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Events: ev})
	m := msg(s, "s@example.org", "x@remote.example")
	m.OrgID = "0123456789abcdef0123456789abcdef"
	m.ShadowServer, m.ShadowID = "hub-b", m.OrgID
	if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	plain := msg(s, "s@example.org", "x@remote.example")
	plain.OrgID = "fedcba9876543210fedcba9876543210"
	if err := q.Submit(context.Background(), plain, []byte(body)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := replies[m.OrgID]; !strings.Contains(got, "hub-b") {
		t.Errorf("receive event %q: want the shadow server its commit named, hub-b", got)
	}
	if got := replies[plain.OrgID]; got != "" {
		t.Errorf("receive event of a message no shadow server keeps: %q, want none", got)
	}
}
