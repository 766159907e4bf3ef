package console

import (
	"testing"
	"time"

	"umbra/internal/queue"
)

// OPS-5 (opsrt43 O1): the map's "Last contact" of a server is the last
// time it answered — never the time of an attempt that did not reach it
// (a refused connection, no host reachable): "A refused contact is never
// a contact". A server only ever refused shows none; one that answered
// before shows that answer's time, not the later refusal's; a deferral
// the server itself answered is a contact.
func TestMapLastContactIsNoRefusedAttempt(t *testing.T) {
	s := &Server{cfg: Config{Self: "hub1.example.org", Health: NewHealth(nil)}}
	topo := &Topology{Servers: []TopoServer{{Name: "hub2.example.org", Role: "hub", Site: "west", Address: "127.0.0.2:25"}}}
	m := &queue.Message{ID: 1}
	hop := &queue.Recipient{NextHop: "hub2.example.org[127.0.0.2]:25"}
	s.cfg.Health.Event("defer", m, hop, "451 4.4.1 connect to hub2.example.org[127.0.0.2]:25: dial tcp 127.0.0.2:25: connect: connection refused")
	hs := s.health(topo)
	if len(hs) != 1 || hs[0].State != "failing" || !hs[0].LastContact.IsZero() {
		t.Fatalf("a server only ever refused: %+v; want failing with no last contact", hs)
	}
	s.cfg.Health.Event("send", m, hop, "250 2.0.0 ok")
	answered := s.health(topo)[0].LastContact
	if answered.IsZero() {
		t.Fatal("a server that took a message has no last contact")
	}
	time.Sleep(2 * time.Millisecond)
	s.cfg.Health.Event("defer", m, hop, "451 4.4.1 connect to hub2.example.org[127.0.0.2]:25: dial tcp 127.0.0.2:25: connect: connection refused")
	if got := s.health(topo)[0].LastContact; !got.Equal(answered) {
		t.Errorf("last contact %v after a refused attempt; want the answer's %v", got, answered)
	}
	time.Sleep(2 * time.Millisecond)
	s.cfg.Health.Event("defer", m, hop, "451 4.3.0 hub2.example.org[127.0.0.2]:25 said: 451 4.3.0 try later")
	if got := s.health(topo)[0].LastContact; !got.After(answered) {
		t.Errorf("last contact %v after the server answered a deferral; want later than %v", got, answered)
	}
}
