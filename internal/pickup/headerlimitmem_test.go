package pickup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pickup file read into memory (under transport.spool_threshold) is
// held to max_header_size as a spooled one is
// (TestPickupHeaderLimitSameWithAndWithoutBody) and as an SMTP client's
// header section is: counted with its empty line, as umbra stores it —
// line ends CRLF, so the CR put before a bare LF counts. Before, only a
// spooled file was held to it: the same header section was NAME.bad or
// queued by the size of the body after it.
func TestPickupHeaderLimitInMemoryAsSpooled(t *testing.T) {
	const max = 4096
	st, mgr, _ := pickupStore(t)
	// fields: header fields of n bytes once their line ends are CRLF,
	// written with nl, the recipient's first.
	fields := func(n int, nl string) string {
		s := "X-Receiver: a@example.test\r\n"
		s += "X-L: " + strings.Repeat("w", n-len(s)-7) + "\r\n"
		return strings.ReplaceAll(s, "\r\n", nl)
	}
	body := strings.Repeat("body line\r\n", 300)
	for _, threshold := range []int64{1024, 1 << 20} {
		for _, nl := range []string{"\r\n", "\n"} {
			for _, c := range []struct {
				name    string
				content string
				queued  bool
			}{
				{"fields of max-2, a body", fields(max-2, nl) + nl + body, true},
				{"fields of max-1, a body", fields(max-1, nl) + nl + body, false},
				{"fields of max+200, a body", fields(max+200, nl) + nl + body, false},
				{"fields of max-2, no body", fields(max-2, nl), true},
				{"fields of max-1, no body", fields(max-1, nl), false},
			} {
				dir := t.TempDir()
				w := New(Config{Dir: dir, Hostname: "hub.test", Queue: mgr, MaxSize: 1 << 20,
					Spool: st.NewSpool, SpoolThreshold: threshold, MaxHeaderSize: max})
				if err := os.WriteFile(filepath.Join(dir, "m.eml"), []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				w.Scan(ctx)
				cancel()
				w.wg.Wait()
				queued, _ := filepath.Glob(filepath.Join(dir, "*.queued"))
				_, bad := os.Stat(filepath.Join(dir, "m.bad"))
				if got := len(queued) == 1; got != c.queued || got == (bad == nil) {
					t.Errorf("threshold %d, line ends %q, %s: queued %v (.bad: %v), want queued %v", threshold, nl, c.name, queued, bad == nil, c.queued)
				}
			}
		}
	}
}

// headerOverLimit, which normalises no more than limit+1 bytes, decides
// as a count over the whole file normalised would.
func FuzzHeaderOverLimit(f *testing.F) {
	f.Add([]byte("To: a@example.test\r\n\r\nbody\r\n"), uint8(22))
	f.Add([]byte("To: a@example.test\n\nbody\n"), uint8(21))
	f.Add([]byte("To: a@example.test\r\r\r"), uint8(24))
	f.Add([]byte("To: a@example.test"), uint8(22))
	f.Fuzz(func(t *testing.T, data []byte, l uint8) {
		limit := int(l)
		msg := crlf(data)
		n := len(msg) + 2
		if end := bytes.Index(msg, []byte("\r\n\r\n")); end >= 0 {
			n = end + 4
		} else if len(msg) > 0 && !bytes.HasSuffix(msg, []byte("\r\n")) {
			n += 2
		}
		if got, want := headerOverLimit(data, limit), n > limit; got != want {
			t.Fatalf("headerOverLimit(%q, %d) = %v; the section normalised is %d bytes", data, limit, got, n)
		}
	})
}
