package smtp

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt17e-F6 (W-4): XDISCARD says how many of its notifications were
// applied and how many name no copy held for the session's primary —
// with the real queue, ids of real length it does not know, and the
// word TAKEOVER, are not counted as applied.
func TestPushedDiscardsCountUnknown(t *testing.T) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	if _, err := q.ShadowPresented("hub2", "db-hub2", nil); err != nil { // a primary with copies here
		t.Fatal(err)
	}
	sh := &queuePush{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}, q: q}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	ids := "0123456789abcdef0123456789abcdef-1 0123456789abcdef0123456789abcdef-2 0123456789abcdef0123456789abcdef-3"
	if got := d.cmd("XDISCARD "+ids, "250 2.0.0"); !strings.Contains(got, "0 discards applied") || !strings.Contains(got, "3 not held") {
		t.Fatalf("three unknown ids: %q; want 0 applied, 3 not held", got)
	}
	if got := d.cmd("XDISCARD 0123456789abcdef0123456789abcdef-4 TAKEOVER", "250 2.0.0"); !strings.Contains(got, "0 discards applied") || !strings.Contains(got, "2 not held") {
		t.Fatalf("an unknown id and TAKEOVER: %q; want 0 applied, 2 not held", got)
	}
	if got := d.cmd("XDISCARD TAKEOVER", "250 2.0.0"); strings.Contains(got, "applied") {
		t.Fatalf("TAKEOVER alone: %q; want no discard applied", got)
	}
	d.cmd("QUIT", "221")
}
