package delivery

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"umbra/internal/routing"
)

// SR-17 (shadow30 item 2): the refusal of a holder's sessions is kept
// under the name its sessions state; its place in the tries (tried
// last, and once a minute in its normal place) must be read under that
// same name when the holder is dialled under another (the topology's
// name for its address). Dialled as hub-b, stating hub-c: tried last
// while refused, tried for one copy once a minute, never every time.
func TestSR17RefusedHolderRetriedUnderItsStatedName(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.132:8011"}
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	d.st.Store(&state{cfg: Config{Topology: nameTopology(t, hubB), LocalServer: "hub-a"}})
	r := NewReceiptShadow(d, "dbA")
	now := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }

	for _, stated := range []string{"hub-c", "HUB-C.", "Hub-C"} {
		t.Run(stated, func(t *testing.T) {
			r.ShadowSessionRefused(stated) // its sessions here state hub-c
			// A session to it (dialled as hub-b) meets the name it states.
			if why := r.sessionsRefusedHere("hub-b", stated); why == "" {
				t.Fatal("holder stating hub-c, whose sessions are refused here: copy made")
			}
			if !r.marked(now)(&hubB) {
				t.Error("holder dialled as hub-b, its sessions (as hub-c) refused: not tried last")
			}
			// A minute on: its one try in its normal place.
			now = now.Add(receiptProbe)
			if r.marked(now)(&hubB) {
				t.Error("a minute after the refusal: the holder still tried last, never retried")
			}
			if why := r.sessionsRefusedHere("hub-b", stated); why != "" {
				t.Errorf("a minute after the refusal: %q, want its one try", why)
			}
			// Taken: tried last again, and refused, until the next minute.
			if !r.marked(now)(&hubB) {
				t.Error("after its try: not tried last again (retried every time)")
			}
			if why := r.sessionsRefusedHere("hub-b", stated); why == "" {
				t.Error("after its try: copy made again within the minute")
			}
			r.ShadowSessionLetIn(stated)
			if r.marked(now)(&hubB) {
				t.Error("its session let in: still tried last")
			}
			now = now.Add(time.Hour)
		})
	}
}
