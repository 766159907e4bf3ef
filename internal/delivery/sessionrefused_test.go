package delivery

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/routing"
)

// SR-17: the receive side refused hub-b's shadow session (any reason):
// no copy on receipt there, and it stays tried last, until one of its
// sessions is let in; the WARN is logged once per refusal state. A
// fresh start has seen none refused.
func TestSR17SessionsRefusedHereUntilLetIn(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.170:44001"}
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "dbA")
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why != "" {
		t.Fatalf("fresh start: %q, want a copy", why)
	}
	r.ShadowSessionRefused("HUB-B")
	for range 2 {
		if why := r.sessionsRefusedHere("hub-b", "hub-b"); why == "" {
			t.Fatal("hub-b's sessions refused here: copy made")
		}
	}
	if why := r.sessionsRefusedHere("hub-b", ""); why == "" {
		t.Fatal("hub-b stating no name, its sessions refused here: copy made")
	}
	if _, ok := r.judgedCopied.Load("hub-b"); !ok {
		t.Error("hub-b not tried last while its sessions are refused")
	}
	if n := strings.Count(buf.String(), "whose sessions this server refuses"); n != 1 {
		t.Errorf("%d WARN lines, want 1:\n%s", n, buf.String())
	}
	r.ShadowSessionLetIn("hub-b")
	if why := r.sessionsRefusedHere("hub-b", "hub-b"); why != "" {
		t.Fatalf("hub-b's session let in again: %q, want a copy", why)
	}
}
