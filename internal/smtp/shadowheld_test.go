package smtp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/shadowid"
)

// heldShadow answers XQUERYHELD from a set of ids it still needs.
type heldShadow struct {
	signalShadow
	mu    sync.Mutex
	held  map[string]bool
	asked [][]string
	fail  bool
}

func (h *heldShadow) ShadowHeld(server string, ids []string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		return nil, errors.New("disk on fire")
	}
	h.asked = append(h.asked, append([]string{server}, ids...))
	var done []string
	for _, id := range ids {
		if !h.held[id] {
			done = append(done, id)
		}
	}
	return done, nil
}

// Version 4: a server whose queue can tell which copies it is done with
// offers "XSHADOW 4" and answers XQUERYHELD inside a shadow session
// only, for the session's server, with the ids it is done with; bad
// arguments get 501 5.5.4, a store failure 451 4.3.0. The client keeps
// each command within 512 octets and sends only valid ids.
func TestQueryHeldVerb(t *testing.T) {
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}},
		held: map[string]bool{"a-1": true}}
	s := startShadowServer(t, &copyQueue{}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 5") { // 4 and after
		t.Fatalf("XSHADOW 5 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XQUERYHELD a-1", "503 5.5.1") // no shadow session yet
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYHELD", "501 5.5.4")
	d.cmd("XQUERYHELD a/1", "501 5.5.4")
	d.cmd("XQUERYHELD "+strings.Repeat("x ", maxHeldIDs+1), "501 5.5.4")
	if got := d.cmd("XQUERYHELD a-1", "250"); got != "250 2.0.0 0 of 1 finished" {
		t.Fatalf("held copy: %q", got)
	}
	if got := d.cmd("XQUERYHELD a-1 b-2 c-3", "250 c-3"); got != "250-2.0.0 2 of 3 finished\n250-b-2\n250 c-3" {
		t.Fatalf("reply:\n%s", got)
	}
	sh.mu.Lock()
	sh.fail = true
	sh.mu.Unlock()
	d.cmd("XQUERYHELD a-1", "451 4.3.0")
	d.cmd("QUIT", "221")
	sh.mu.Lock()
	for _, a := range sh.asked {
		if a[0] != "hub2" {
			t.Errorf("asked for %q, not the session's server", a[0])
		}
	}
	sh.mu.Unlock()

	// The client: many ids go in several commands of at most 512 octets.
	sh.mu.Lock()
	sh.fail, sh.asked = false, nil
	sh.mu.Unlock()
	c := shadowClient(t, s)
	if c.ShadowVersion != 5 {
		t.Fatalf("client speaks version %d", c.ShadowVersion)
	}
	var ids []string
	for i := 0; i < 150; i++ {
		ids = append(ids, strings.Repeat("i", 40)+"-"+string(rune('a'+i%26))+strings.Repeat("z", i%5))
	}
	ids = append(ids, "bad/id")
	done, err := c.QueryHeld(append([]string{"a-1"}, ids...))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, ids[:150]) {
		t.Fatalf("done: %d ids, want the 150 valid ones not held", len(done))
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.asked) < 2 {
		t.Fatalf("%d commands for 151 ids", len(sh.asked))
	}
	for _, a := range sh.asked {
		if n := len("XQUERYHELD " + strings.Join(a[1:], " ")); n > heldLineMax {
			t.Fatalf("a command of %d octets", n)
		}
	}
}

// shadowClient opens a shadow session as hub2 with the package's client.
func shadowClient(t *testing.T, s *Server) *Client {
	t.Helper()
	nc, err := dialTCP(s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	return c
}

func FuzzParseHeldArgs(f *testing.F) {
	for _, s := range []string{"a-1", "a-1 b-2", "", " ", "a/1", strings.Repeat("x ", 101), "a\tb", "0000000000000001-abcdef01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ids, ok := parseHeldArgs(arg)
		if !ok {
			return
		}
		if len(ids) == 0 || len(ids) > maxHeldIDs {
			t.Fatalf("%q: %d ids accepted", arg, len(ids))
		}
		for _, id := range ids {
			if !shadowid.Valid(id) {
				t.Fatalf("%q: invalid id %q accepted", arg, id)
			}
		}
	})
}
