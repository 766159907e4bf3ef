package smtp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// keptCopiesShadow answers XQUERYKEPT from the ids it keeps (version 23).
type keptCopiesShadow struct {
	*takenOverShadow
	mu    sync.Mutex
	kept  map[string]bool
	asked [][]string // primary, then the ids, of each question
	fail  bool
}

func (k *keptCopiesShadow) ShadowKeptMissing(primary, _ string, ids []string) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail {
		return nil, errors.New("disk on fire")
	}
	k.asked = append(k.asked, append([]string{primary}, ids...))
	var missing []string
	for _, id := range ids {
		if !k.kept[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// newTakenOverShadow is a shadow of version 22 (takenover_test.go).
func newTakenOverShadow() *takenOverShadow {
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{}}
	return &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{}}
}

// keptConnector is transportConnector bound to 127.0.0.120, on a free
// port of 7000-7499.
func keptConnector(t *testing.T) []config.ReceiveConnector {
	return transportConnectorAt(t, freeAddrIn(t, "127.0.0.120", 7000, 7500))
}

// SR-6, SR-7 (version 23, a holder's database file copied back): a
// server whose queue can tell which copies it keeps offers "XSHADOW 23"
// and answers XQUERYKEPT inside a shadow session of an authenticated
// transport server only, for the session's server, with the ids it has
// no record of; bad arguments (none, an invalid id, more than 100 ids)
// get 501 5.5.4, a store failure 451 4.3.0, a user's session 550 5.7.1.
func TestSR6QueryKeptVerb(t *testing.T) {
	sh := &keptCopiesShadow{takenOverShadow: newTakenOverShadow(), kept: map[string]bool{"a-1": true}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, keptConnector(t))

	user := dial(t, s, "")
	user.expect("220")
	user.cmd("XQUERYKEPT a-1", "503 5.5.1") // before EHLO
	user.cmd("EHLO client.test", "250")
	user.cmd(authAlice, "235")
	user.cmd("XQUERYKEPT a-1", "550 5.7.1") // not a transport server
	user.cmd("QUIT", "221")

	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, fmt.Sprintf("XSHADOW %d", ShadowVersion)) {
		t.Fatalf("XSHADOW %d not advertised:\n%s", ShadowVersion, ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XQUERYKEPT a-1", "503 5.5.1") // no shadow session yet
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYKEPT", "501 5.5.4")
	d.cmd("XQUERYKEPT a/1", "501 5.5.4")
	d.cmd("XQUERYKEPT "+strings.Repeat("x ", maxHeldIDs+1), "501 5.5.4")
	if got := d.cmd("XQUERYKEPT a-1", "250"); got != "250 2.0.0 0 of 1 missing" {
		t.Fatalf("kept copy: %q", got)
	}
	if got := d.cmd("XQUERYKEPT a-1 b-2 c-3", "250 c-3"); got != "250-2.0.0 2 of 3 missing\n250-b-2\n250 c-3" {
		t.Fatalf("reply:\n%s", got)
	}
	sh.mu.Lock()
	sh.fail = true
	sh.mu.Unlock()
	d.cmd("XQUERYKEPT a-1", "451 4.3.0")
	d.cmd("QUIT", "221")
	sh.mu.Lock()
	for _, a := range sh.asked {
		if a[0] != "hub2" {
			t.Errorf("asked for %q, not the session's server", a[0])
		}
	}
	sh.fail, sh.asked = false, nil
	sh.mu.Unlock()

	// The client: many ids go in several commands of at most 512
	// octets; an invalid id is not sent.
	c := shadowClient(t, s)
	if c.ShadowVersion < KeptVersion {
		t.Fatalf("client speaks version %d, want %d or after", c.ShadowVersion, KeptVersion)
	}
	var ids []string
	for i := 0; i < 150; i++ {
		ids = append(ids, fmt.Sprintf("%s-%03d", strings.Repeat("i", 40), i))
	}
	missing, asked, err := c.QueryKept(append([]string{"a-1", "bad/id"}, ids...))
	if err != nil || !asked {
		t.Fatalf("asked %v, err %v", asked, err)
	}
	if !slices.Equal(missing, ids) {
		t.Fatalf("missing: %d ids, want the 150 valid ones not kept", len(missing))
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.asked) < 2 {
		t.Fatalf("%d commands for 151 ids", len(sh.asked))
	}
	for _, a := range sh.asked {
		if n := len("XQUERYKEPT " + strings.Join(a[1:], " ")); n > heldLineMax {
			t.Fatalf("a command of %d octets", n)
		}
		if slices.Contains(a, "bad/id") {
			t.Fatal("an invalid id was sent")
		}
	}
}

// A server whose queue cannot tell which copies it keeps offers version
// 22 and refuses XQUERYKEPT 503 5.5.1; the client of 23 asks it nothing
// (asked false), so a peer of 22 never sees the verb.
func TestSR6QueryKeptNotAskedBelow23(t *testing.T) {
	sh := newTakenOverShadow()
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, keptConnector(t))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 22") {
		t.Fatalf("XSHADOW 22 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYKEPT a-1", "503 5.5.1")
	d.cmd("QUIT", "221")

	c := shadowClient(t, s)
	if c.ShadowVersion != TakenOverVersion {
		t.Fatalf("client speaks version %d, want %d", c.ShadowVersion, TakenOverVersion)
	}
	missing, asked, err := c.QueryKept([]string{"a-1"})
	if asked || err != nil || missing != nil {
		t.Fatalf("a peer of 22 was asked: %v %v %v", missing, asked, err)
	}
}

// XQUERYKEPT's arguments are XQUERYHELD's: the parser admits 1 to 100
// valid shadow ids only.
func FuzzParseKeptArgs(f *testing.F) {
	for _, s := range []string{"a-1", "a-1 b-2", "", " ", "a/1", strings.Repeat("x ", 101), strings.Repeat("x ", 100), "a\tb", "a\x00b",
		"0000000000000001-abcdef01 0123456789abcdef0123456789abcdef", strings.Repeat("z", shadowid.MaxLen+1),
		strings.Repeat("z", shadowid.MaxLen), "a-1  b-2", " a-1 ", "a-1\r", "a-1\n b-2", "a-1 \u00e9", "a-1 a-1"} {
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
