package smtp

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-3, W-4 (holder names folded one way): a primary files the discard
// notifications it owes a shadow server under the name its record gives
// that server (the topology's, when the copy was made); the server's
// sessions state their id in their own spelling. With the real queue, a
// session stating XSHADOW HUB2 (its account hub2, admitted in ASCII
// case) is handed what is owed to hub2: filed by the name as given, the
// notifications never reached it, and its copies waited for their
// expiry or a takeover (a second delivery).
func TestXQueryDiscardReachesHolderInAnotherSpelling(t *testing.T) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.AddDiscard("hub2", "0123456789abcdef0123456789abcdef-1", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	s := startShadowServer(t, q, q, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW HUB2", "250")
	if got := d.cmd("XQUERYDISCARD 10", "250"); !strings.Contains(got, "0123456789abcdef0123456789abcdef-1") {
		t.Fatalf("XQUERYDISCARD of a session stating HUB2: %q; want the notification owed to hub2", got)
	}
	d.cmd("QUIT", "221")
}
