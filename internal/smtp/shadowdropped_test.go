package smtp

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// droppedShadow also notes copies its operator removed (DroppedNoter): a
// server with one offers version 12.
type droppedShadow struct {
	*handBackShadow
	mu      sync.Mutex
	dropped map[string][]string // primary -> copy ids removed
	acked   []string
}

func (d *droppedShadow) DroppedCopies(primary, _ string, max int) ([]string, func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := d.dropped[primary]
	if len(ids) > max {
		ids = ids[:max]
	}
	ids = slices.Clone(ids)
	return ids, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.acked = append(d.acked, ids...)
		d.dropped[primary] = d.dropped[primary][len(ids):]
	}
}

func (d *droppedShadow) ackedNow() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.acked)
}

// Version 12: XQUERYDROPPED lists, inside a shadow session only, the
// copies removed for the session's server; the ids are forgotten only
// once the client speaks again; the client asks only a server of 12.
func TestQueryDroppedVerb(t *testing.T) {
	sh := &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{}},
		dropped: map[string][]string{"hub2": {"a-1", "b-2", "c-3"}, "hub3": {"x-9"}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 12") {
		t.Fatalf("XSHADOW 12 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XQUERYDROPPED 5", "503 5.5.1") // no shadow session yet
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDROPPED", "501 5.5.4")
	d.cmd("XQUERYDROPPED 0", "501 5.5.4")
	d.cmd("XQUERYDROPPED +2", "501 5.5.4")
	if got := d.cmd("XQUERYDROPPED 2", "250 b-2"); got != "250-2.0.0 2 dropped copies\n250-a-1\n250 b-2" {
		t.Fatalf("reply:\n%s", got)
	}
	if a := sh.ackedNow(); len(a) != 0 {
		t.Fatalf("forgotten before the client spoke again: %q", a)
	}
	if got := d.cmd("XQUERYDROPPED 2", "250 c-3"); got != "250-2.0.0 1 dropped copies\n250 c-3" {
		t.Fatalf("second reply:\n%s", got)
	}
	d.cmd("QUIT", "221")
	waitUntil(t, func() bool { return len(sh.ackedNow()) == 3 })
	if a := sh.ackedNow(); !slices.Equal(a, []string{"a-1", "b-2", "c-3"}) {
		t.Fatalf("forgotten %q", a)
	}

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 12 {
		t.Fatalf("client speaks version %d, want 12", c.ShadowVersion)
	}
	sh.mu.Lock()
	sh.dropped["hub2"] = []string{"d-4", "bad id", "*"}
	sh.mu.Unlock()
	ids, err := c.QueryDropped(10)
	if err != nil {
		t.Fatal(err)
	}
	// "*": a copy set aside as damaged, which the holder cannot name.
	if !slices.Equal(ids, []string{"d-4", "*"}) {
		t.Fatalf("client read %q, want [d-4 *]", ids)
	}
	c.ShadowVersion = 11 // an older peer is not asked
	if ids, err := c.QueryDropped(10); err != nil || ids != nil {
		t.Fatalf("asked a version-11 peer: %q %v", ids, err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The holder's line for what it told names what the notes were: a
// damaged copy set aside here (XQUERYDROPPED "*") is no administrator's
// removal, and "*" is not a count of copies (rt54 L1, the holder's side).
func TestDroppedToldLineSaysWhatHappened(t *testing.T) {
	for _, tc := range []struct {
		ids       []string
		want, not []string
	}{
		{[]string{"*"}, []string{"set aside here as damaged"}, []string{"administrator", "copies="}},
		{[]string{"a-1", "b-2"}, []string{"removed here by the administrator", "copies_removed=2"}, []string{"damaged"}},
		{[]string{"a-1", "*"}, []string{"removed here by the administrator", "copies_removed=1", "set aside here as damaged"}, nil},
	} {
		var buf strings.Builder
		logDroppedTold(slog.New(slog.NewTextHandler(&buf, nil)), "hub2", tc.ids)
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%q: log lacks %q:\n%s", tc.ids, w, buf.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(buf.String(), n) {
				t.Errorf("%q: log has %q:\n%s", tc.ids, n, buf.String())
			}
		}
	}
}
