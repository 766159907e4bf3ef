package pickup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A spooled pickup file's header section is held to max_header_size as
// an SMTP client's is (package smtp, TestHeaderLimitSameWithAndWithoutBody):
// counted with its empty line — the one Parse puts after a file of
// header fields alone counted too — so header fields of the limit less 2
// bytes are queued, with a body and without, and of the limit less 1
// make the file NAME.bad. Before, a section of up to the limit plus 4
// bytes was queued when a body followed, and fields of the limit less 1
// when none did.
func TestPickupHeaderLimitSameWithAndWithoutBody(t *testing.T) {
	const max = 4096
	st, mgr, _ := pickupStore(t)
	// fields: header fields of n bytes, CRLF line ends, the recipient's first.
	fields := func(n int) string {
		s := "X-Receiver: a@example.test\r\n"
		return s + "X-L: " + strings.Repeat("w", n-len(s)-7) + "\r\n"
	}
	body := "\r\n" + strings.Repeat("body line\r\n", 300)
	for _, c := range []struct {
		name    string
		content string
		queued  bool
	}{
		{"fields of max-2, a body", fields(max-2) + body, true},
		{"fields of max-1, a body", fields(max-1) + body, false},
		{"fields of max+2, a body", fields(max+2) + body, false},
		{"fields of max-2, no body", fields(max - 2), true},
		{"fields of max-1, no body", fields(max - 1), false},
	} {
		dir := t.TempDir()
		w := New(Config{Dir: dir, Hostname: "hub.test", Queue: mgr, MaxSize: 1 << 20,
			Spool: st.NewSpool, SpoolThreshold: 1024, MaxHeaderSize: max})
		os.WriteFile(filepath.Join(dir, "m.eml"), []byte(c.content), 0o600)
		ctx, cancel := context.WithCancel(context.Background())
		w.Scan(ctx)
		cancel()
		w.wg.Wait()
		queued, _ := filepath.Glob(filepath.Join(dir, "*.queued"))
		_, bad := os.Stat(filepath.Join(dir, "m.bad"))
		if got := len(queued) == 1; got != c.queued || got == (bad == nil) {
			t.Errorf("%s: queued %v (.bad: %v), want queued %v", c.name, queued, bad == nil, c.queued)
		}
	}
}
