package delivery

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"umbra/internal/queue"
)

type refusingHolders struct{ calls int }

func (h *refusingHolders) ShadowHolderSeen(server, dbID string) (int, string, error) {
	h.calls++
	return 0, "", &queue.DatabaseOfAnotherError{Server: server, DatabaseID: dbID, Other: "hub-b"}
}
func (h *refusingHolders) ShadowHolderMark(string) uint64     { return 0 }
func (h *refusingHolders) ShadowHolderByDigest(string) string { return "" }

// rt20c-F1 mend: a server met under a second name of a recorded
// database is refused an id of its own in every copy-on-receipt
// session; the refusal is logged once per (name, id), not per accepted
// message (OPS-: logs an operator can read).
func TestHolderRefusalWarnedOncePerNameAndID(t *testing.T) {
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	r := NewReceiptShadow(d, "dbA")
	h := &refusingHolders{}
	r.holders = h
	for range 5 {
		r.holderSeen("hub-b2", "", "dbB")
	}
	r.holderSeen("HUB-B2", "", "dbB")
	r.holderSeen("hub-b2", "", "dbC")
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("%d WARN lines for 7 refusals of 2 (name, id) pairs, want 2:\n%s", n, buf.String())
	}
	if h.calls != 7 {
		t.Fatalf("%d calls to record the id, want 7", h.calls)
	}
}

// switchingHolders refuses the ids in refuse, records any other.
type switchingHolders struct{ refusingHolders }

func (h *switchingHolders) ShadowHolderSeen(server, dbID string) (int, string, error) {
	if dbID == "dbB" {
		return h.refusingHolders.ShadowHolderSeen(server, dbID)
	}
	return 0, "", nil
}

// reread23 F4's class (OPS- logs): the WARN was once per (name, id) for
// the process, never again — a server refused, then recorded under an id
// of its own, then refused again (a data dir copied back) went unseen.
// A recorded id ends the server's refusals: the next one is WARNed.
func TestHolderRefusalWarnedAgainAfterAccepted(t *testing.T) {
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	r := NewReceiptShadow(d, "dbA")
	r.holders = &switchingHolders{}
	r.holderSeen("hub-b2", "", "dbB")
	r.holderSeen("hub-b2", "", "dbB")
	r.holderSeen("hub-c", "", "dbQ") // another server's id recorded: hub-b2's refusal stays
	r.holderSeen("hub-b2", "", "dbB")
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines before hub-b2 was accepted, want 1:\n%s", n, buf.String())
	}
	r.holderSeen("Hub-B2", "", "dbN") // its own id, recorded
	r.holderSeen("hub-b2", "", "dbB")
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("%d WARN lines, want 2: the refusal after hub-b2 was accepted again is WARNed:\n%s", n, buf.String())
	}
}

// SR-7, SR-17 (rt24a F1's class, copies on receipt): a shadow server
// presenting a database id kept here as hub-b's is judged by the name it
// states as its own (shadow verbs 20). hub-b itself, dialled under a
// misspelt name, states hub-b — in any letter case, with a final dot —:
// the copy is made. A server stating hub-c runs a copy of hub-b's data
// dir: no copy. One stating no name (below 20) is not judged: the copy
// is made, as before. Each (name, id) is WARNed once, the copied one
// with its own line.
func TestHolderPresentingAnotherServersIDJudgedByStatedName(t *testing.T) {
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	r := NewReceiptShadow(d, "dbA")
	r.holders = &refusingHolders{}
	for _, c := range []struct {
		dialled, stated string
		copied          bool
	}{
		{"hub-b2", "hub-b", false},
		{"hub-b2", "HUB-B.", false},
		{"hub-b2", "", false},
		{"hub-c", "hub-c", true},
		{"hub-c", "hub-c", true}, // again: judged again, not WARNed again
		{"hub-d", "hub-b2", true},
	} {
		if another, got := r.holderSeen(c.dialled, c.stated, "dbB"); !another || (got != "") != c.copied {
			t.Errorf("holderSeen(%s stating %q): another %v, copied %q; want true, %v", c.dialled, c.stated, another, got, c.copied)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "no copy on receipt on a shadow server presenting another server's transport database id"); n != 2 {
		t.Errorf("%d WARN lines of a copied database, want 2 (hub-c, hub-d):\n%s", n, out)
	}
	if n := strings.Count(out, "level=WARN"); n != 3 {
		t.Errorf("%d WARN lines, want 3 (hub-b2 once, hub-c, hub-d):\n%s", n, out)
	}
}
