package delivery

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/routing"
)

// gatedRefusedStore is a RefusedHereStore whose writes of one value wait
// for a gate, as a durable commit can (queue NoteSessionsRefusedHere
// returns once durable).
type gatedRefusedStore struct {
	mu      sync.Mutex
	names   map[string]bool
	gateFor bool
	entered chan struct{}
	gate    chan struct{}
}

func (s *gatedRefusedStore) SessionsRefusedHere() (map[string]time.Time, error) { return nil, nil }

func (s *gatedRefusedStore) NoteSessionsRefusedHere(name string, refused bool) error {
	if refused == s.gateFor && s.gate != nil {
		close(s.entered)
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused {
		s.names[mailaddr.NameKey(name)] = true
	} else {
		delete(s.names, mailaddr.NameKey(name))
	}
	return nil
}

func (s *gatedRefusedStore) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[mailaddr.NameKey(name)]
}

func newRaceReceipt(t *testing.T, st *gatedRefusedStore) (*ReceiptShadow, *time.Time) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.190:14501"}
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "dbA")
	r.refusedStore = st
	now := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	return r, &now
}

// A refusal whose write is slow, and a session let in meanwhile: memory
// says let in, the transport database says refused — and no later
// let-in writes it again (memory has no refusal to end), so the next
// start refuses copies to a server whose sessions have been let in all
// along.
func TestSR17RefusedHereLetInDuringRefusalWrite(t *testing.T) {
	st := &gatedRefusedStore{names: map[string]bool{}, gateFor: true, entered: make(chan struct{}), gate: make(chan struct{})}
	r, _ := newRaceReceipt(t, st)
	done := make(chan struct{})
	go func() { r.ShadowSessionRefused("hub-b"); close(done) }()
	<-st.entered
	letIn := make(chan struct{})
	go func() { r.ShadowSessionLetIn("hub-b"); close(letIn) }() // its next session, let in, while the refusal is written
	close(st.gate)
	<-done
	<-letIn
	r.ShadowSessionLetIn("hub-b") // and every one after
	if _, mem := r.sessionRefusals.Load(mailaddr.NameKey("hub-b")); mem != st.has("hub-b") {
		t.Fatalf("memory refused=%v, stored refused=%v: a restart judges hub-b otherwise than this process", mem, st.has("hub-b"))
	}
}

// A copy made on the try once a minute ends nothing (the holder,
// refused, opens no session here for its heartbeat timeout): memory and
// the stored record both still say refused, and no write is made.
func TestSR17RefusedHereCopyMadeOnEndsNothing(t *testing.T) {
	st := &gatedRefusedStore{names: map[string]bool{}}
	r, now := newRaceReceipt(t, st)
	r.ShadowSessionRefused("hub-b")
	*now = now.Add(receiptProbe)
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why != "" {
		t.Fatalf("no try a minute later: %s", why)
	}
	r.copyMadeOn("hub-b", "hub-b")
	_, mem := r.sessionRefusals.Load(mailaddr.NameKey("hub-b"))
	if !mem || !st.has("hub-b") {
		t.Fatalf("after the try's copy: memory refused=%v, stored refused=%v; want both refused", mem, st.has("hub-b"))
	}
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why == "" {
		t.Fatal("a second copy in the same minute")
	}
}
