package admin

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// On a shadow server, a damaged record that was a shadow copy says so
// and names its primary (show), and its removal says what the primary
// does: it was told, holds the message alone and copies it again
// (rt54 L2). A damaged record of this server's own says neither.
func TestDamagedCopyShownAsCopy(t *testing.T) {
	sv := queue.NewStateView(time.Now(), nil)
	m := &queue.Message{ID: 1, State: queue.Damaged, LastError: "checksum mismatch", DamagedCopyOf: "hub-a.example"}
	v := view(m, sv)
	if v.CopyOf != "hub-a.example" {
		t.Errorf("copy_of %q, want hub-a.example", v.CopyOf)
	}
	if !strings.Contains(v.Damaged, "shadow copy") || !strings.Contains(v.Damaged, "hub-a.example") {
		t.Errorf("damaged: %q; want it named a shadow copy of hub-a.example's message", v.Damaged)
	}
	note := removeNote(m)
	if !strings.Contains(note, "hub-a.example") || !strings.Contains(note, "copies it again") {
		t.Errorf("remove note %q; want what hub-a.example does", note)
	}
	own := &queue.Message{ID: 2, State: queue.Damaged, LastError: "checksum mismatch"}
	if v := view(own, sv); v.CopyOf != "" || strings.Contains(v.Damaged, "shadow copy") {
		t.Errorf("this server's own damaged record shown as a copy: %+v", v)
	}
	if n := removeNote(own); n != "" {
		t.Errorf("remove note for this server's own record: %q", n)
	}
}

// OPS-5 (rt25c F4): remove --ndr of a damaged record says that no DSN
// was made (its envelope does not decode), instead of a bare "remove"
// as though the --ndr had been honoured.
func TestRemoveNDROfDamagedRecordSaysNoDSN(t *testing.T) {
	own := &queue.Message{ID: 2, State: queue.Damaged, LastError: "checksum mismatch"}
	if n := removeNoteNDR(own, true); !strings.Contains(n, "no DSN") {
		t.Errorf("remove --ndr note of a damaged record: %q, want it to say no DSN was made", n)
	}
	if n := removeNoteNDR(own, false); n != "" {
		t.Errorf("remove note without --ndr: %q", n)
	}
	sound := &queue.Message{ID: 3, State: queue.Ready, From: "sender@example.org"}
	if n := removeNoteNDR(sound, true); n != "" {
		t.Errorf("remove --ndr note of a sound message: %q", n)
	}
	// The null sender gets no DSN (rt32c), and the note says so.
	bounce := &queue.Message{ID: 4, State: queue.Ready}
	if n := removeNoteNDR(bounce, true); !strings.Contains(n, "null sender") {
		t.Errorf("remove --ndr note of a null-sender message: %q", n)
	}
}
