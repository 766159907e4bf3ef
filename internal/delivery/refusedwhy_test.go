package delivery

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/routing"
)

// SR-17 (rt32a): shadow list's WHY of a holder whose sessions are refused
// here said "no copy on receipt on it; one copy a minute is made there
// all the same" on an edge whose receive connectors make no copies on
// receipt at all: as if copies on receipt went there once a minute. It
// says what holds whatever the connectors: the copies this server makes
// (on receipt, where a connector has shadow_on_receipt, or made again)
// go elsewhere, and one a minute goes there only when one is made.
func TestSR17RefusedHolderWhySaysWhenACopyGoesThere(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.194:7002"}
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "db-a")
	r.ShadowSessionRefused("hub-b")
	hs := r.RefusedHolders()
	if len(hs) != 1 {
		t.Fatalf("refused holders: %+v", hs)
	}
	why := hs[0].Why
	if strings.Contains(why, "no copy on receipt on it;") {
		t.Errorf("WHY claims copies on receipt, whatever the connectors: %s", why)
	}
	for _, want := range []string{"shadow_on_receipt", "made again", "when one is to be made, one copy a minute is made there all the same, the next at"} {
		if !strings.Contains(why, want) {
			t.Errorf("WHY %q does not say %q", why, want)
		}
	}
}

// verbs40 F2 (SR-17, OPS- shadow list): a refusal told with its cause
// (ShadowSessionRefusedBecause: the session presented another server's
// database id) is shown with it, not with the list of causes it is not
// (address, certificate, account, right, verbs not offered); a refusal
// of another cause after it is shown as before, the last one's.
func TestSR17RefusedHolderWhyNamesTheCauseTold(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.128:10500"}
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "db-a")
	const cause = "its last one presented the transport database id dbA, which this server knows as hub-a's"
	r.ShadowSessionRefusedBecause("hub-b", cause)
	hs := r.RefusedHolders()
	if len(hs) != 1 {
		t.Fatalf("refused holders: %+v", hs)
	}
	if why := hs[0].Why; !strings.Contains(why, cause) || strings.Contains(why, "its address, certificate, account or right") {
		t.Fatalf("WHY %q: want the cause told, not the others", why)
	}
	r.ShadowSessionRefused("hub-b")
	if why := r.RefusedHolders()[0].Why; strings.Contains(why, cause) || !strings.Contains(why, "its address, certificate, account or right") {
		t.Fatalf("WHY after a refusal of no known cause %q: want the general one", why)
	}
}
