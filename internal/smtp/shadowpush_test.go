package smtp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// pushShadow also applies pushed discards (DiscardTaker): a server with
// one offers version 13.
type pushShadow struct {
	*droppedShadow
	mu      sync.Mutex
	applied []string // primary + " " + line
	marks   []string // "<db> <mark>" each push was made under
	fail    bool
}

func (p *pushShadow) ShadowPushedMarked(primary, dbID string, mark uint64, discards []string) (queue.ContactResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return queue.ContactResult{}, errors.New("disk full")
	}
	for _, d := range discards {
		p.applied = append(p.applied, primary+" "+d)
	}
	p.marks = append(p.marks, fmt.Sprintf("%s %d", dbID, mark))
	return queue.ContactResult{Discarded: len(discards)}, nil
}

func (p *pushShadow) appliedNow() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.applied)
}

// Version 13: XDISCARD hands one discard notification, inside a shadow
// session only, for copies kept for the session's server (the
// authenticated XSHADOW id); the 250 follows the commit, a failed one is
// 451 4.3.0; a full or a partial line (W-4's syntax); the client pushes
// only to a server of 13, and a server without the queue's support
// offers 12 (TestQueryDroppedVerb).
func TestPushDiscardVerb(t *testing.T) {
	sh := &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 14") {
		t.Fatalf("XSHADOW 14 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XDISCARD a-1", "503 5.5.1") // no shadow session yet
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XDISCARD", "501 5.5.4")
	d.cmd("XDISCARD bad/id", "501 5.5.4")
	d.cmd("XDISCARD a-1 RCPT=", "501 5.5.4")
	d.cmd("XDISCARD a-1", "250 2.0.0")
	d.cmd("XDISCARD b-2 RCPT=bob+40example.test", "250 2.0.0")
	sh.mu.Lock()
	sh.fail = true
	sh.mu.Unlock()
	d.cmd("XDISCARD c-3", "451 4.3.0")
	sh.mu.Lock()
	sh.fail = false
	sh.mu.Unlock()
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("XDISCARD c-3", "503 5.5.1") // not inside a transaction
	d.cmd("RSET", "250")
	d.cmd("QUIT", "221")
	// The partial line as the queue reads it (its xtext decoded and encoded again).
	if got, want := sh.appliedNow(), []string{"hub2 a-1", "hub2 b-2 RCPT=bob@example.test"}; !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 14 {
		t.Fatalf("client speaks version %d, want 14", c.ShadowVersion)
	}
	if err := c.PushDiscard("d-4"); err != nil {
		t.Fatal(err)
	}
	c.ShadowVersion = 12 // an older peer is not pushed to
	if err := c.PushDiscard("e-5"); !errors.Is(err, ErrNoPush) {
		t.Fatalf("pushed to a version-12 peer: %v", err)
	}
	if got := sh.appliedNow(); len(got) != 3 || got[2] != "hub2 d-4" {
		t.Fatalf("applied %q, want d-4 last and e-5 not sent", got)
	}
}

// Version 14: XDISCARD carries several notifications — full ones and
// partial ones, a RCPT= word going with the id before it — applied in one
// commit with one reply; more than MaxPushDiscards, or a word that does
// not read, is 501 and nothing is applied. The client sends a hundred a
// command to a server of 14 (and one a command to 13), and a 501 to
// several goes on one a command, passing over only the line refused.
func TestPushDiscardsBatched(t *testing.T) {
	sh := &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XDISCARD a-1 b-2 RCPT=bob+40example.test c-3", "250 2.0.0 3 discards applied")
	d.cmd("XDISCARD RCPT=x+40example.test", "501 5.5.4")
	d.cmd("XDISCARD d-4 bad/id", "501 5.5.4")
	d.cmd("XDISCARD "+strings.Repeat("e-5 ", MaxPushDiscards+1), "501 5.5.4")
	d.cmd("QUIT", "221")
	if got, want := sh.appliedNow(), []string{"hub2 a-1", "hub2 b-2 RCPT=bob@example.test", "hub2 c-3"}; !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}

	lines := make([]string, 250)
	for i := range lines {
		lines[i] = fmt.Sprintf("f-%d", i)
	}
	lines[120] = "bad/id" // refused alone, the others of its command applied
	for _, v := range []int{13, 14} {
		sh.mu.Lock()
		sh.applied = nil
		sh.mu.Unlock()
		c := clientFor(t, s)
		if _, err := c.Shadow("hub2"); err != nil {
			t.Fatal(err)
		}
		c.ShadowVersion = v
		n, err := c.PushDiscards(lines)
		if err != nil || n != len(lines) {
			t.Fatalf("version %d: %d of %d handed over: %v", v, n, len(lines), err)
		}
		if got := sh.appliedNow(); len(got) != len(lines)-1 || got[0] != "hub2 f-0" || got[len(got)-1] != "hub2 f-249" {
			t.Fatalf("version %d: applied %d lines (%q … ), want every line but the unreadable one", v, len(got), got[:min(3, len(got))])
		}
	}
}

// rt17e-F6: a batch of real-length shadow ids (38 characters) fits the
// smallest command line a receiver may keep (limits.max_line_length
// 1000, CRLF included): the client splits by line length as well as by
// count, and the server applies them all without closing the session.
func TestPushDiscardsRealLengthIDsFitLineLimit(t *testing.T) {
	sh := &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, "    limits: {max_line_length: 1000}\n"))
	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	lines := make([]string, 2*MaxPushDiscards)
	for i := range lines {
		lines[i] = fmt.Sprintf("01JEXAMPLE%015d-0123456789ab", i)
		if len(lines[i]) != 38 {
			t.Fatalf("id %q is not 38 characters", lines[i])
		}
	}
	// A partial one making the 25th word of the first command: 1000
	// octets before the CRLF under the old count.
	lines[24] = lines[24] + " RCPT=a+40ex.test"
	if len("XDISCARD")+25+24*38+len(lines[24]) != 1000 {
		t.Fatal("the first command is not 1000 octets long")
	}
	n, err := c.PushDiscards(lines)
	if err != nil || n != len(lines) {
		t.Fatalf("pushed %d of %d: %v", n, len(lines), err)
	}
	if got := sh.appliedNow(); len(got) != len(lines) {
		t.Fatalf("applied %d, want %d", len(got), len(lines))
	}
	if err := c.PushDiscard("after-1"); err != nil {
		t.Fatalf("the session did not survive the batches: %v", err)
	}
}

// SR-17, earlymark40: XDISCARD's notifications are applied under the
// rollback mark the session's XSHADOW presented (MARK=<n> DB=<id>): read
// at the primary before the discards it pushes, the mark an early one is
// kept under (queue AddEarlyDiscard), never the one stored here. A
// session that presented its database id alone (MARK DB=, version 10),
// or none, hands no mark; a later XSHADOW replaces the session's.
func TestPushDiscardCarriesSessionMark(t *testing.T) {
	sh := &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}
	conns := connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.122:7511"]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {servers: [submit, relay, accept-xshadow]}
`, credsFile(t)))
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, conns)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK=7 DB=dbP", "250")
	d.cmd("XDISCARD a-1", "250 2.0.0")
	d.cmd("XSHADOW hub2 MARK DB=dbP", "250")
	d.cmd("XDISCARD b-2", "250 2.0.0")
	d.cmd("XSHADOW hub2 MARK=9 DB=dbP", "250")
	d.cmd("XDISCARD c-3", "250 2.0.0")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XDISCARD d-4", "250 2.0.0")
	d.cmd("QUIT", "221")
	sh.mu.Lock()
	got := slices.Clone(sh.marks)
	sh.mu.Unlock()
	if want := []string{"dbP 7", "dbP 0", "dbP 9", " 0"}; !slices.Equal(got, want) {
		t.Fatalf("pushed under %q, want %q", got, want)
	}
}
