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
		r.holderSeen("hub-b2", "dbB")
	}
	r.holderSeen("HUB-B2", "dbB")
	r.holderSeen("hub-b2", "dbC")
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("%d WARN lines for 7 refusals of 2 (name, id) pairs, want 2:\n%s", n, buf.String())
	}
	if h.calls != 7 {
		t.Fatalf("%d calls to record the id, want 7", h.calls)
	}
}
