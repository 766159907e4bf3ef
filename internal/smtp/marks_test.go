package smtp

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/queue"
)

// markQueue keeps rollback marks (MarkKeeper) besides batches: a
// server with one offers version 7.
type markQueue struct {
	batchQueue
	mmu    sync.Mutex
	mark   uint64
	seen   []string // ShadowMarkSeen calls: "primary db mark"
	copied []uint64 // marks of SubmitShadowCopiesMarked calls
	held   []string // ShadowHolderSeen calls: "server db"
	prim   []string // ShadowPrimaryPresentedHere calls: "primary db"
}

func (q *markQueue) ShadowPrimaryPresentedHere(primary, dbID string) (int, error) {
	q.mmu.Lock()
	defer q.mmu.Unlock()
	q.prim = append(q.prim, primary+" "+dbID)
	return 0, nil
}

func (q *markQueue) ShadowHolderSeen(server, dbID string) (int, string, error) {
	q.mmu.Lock()
	defer q.mmu.Unlock()
	q.held = append(q.held, server+" "+dbID)
	return 0, "", nil
}

func (q *markQueue) ShadowHolderMark(server string) uint64 {
	q.mmu.Lock()
	defer q.mmu.Unlock()
	return q.mark
}

func (q *markQueue) ShadowMarkSeen(primary, dbID string, mark uint64, floor queue.MarkFloor) (bool, int, error) {
	q.mmu.Lock()
	defer q.mmu.Unlock()
	q.seen = append(q.seen, primary+" "+dbID+" "+itoa(mark)+" floor "+itoa(floor.Mark))
	return false, 0, nil
}

func (q *markQueue) ShadowMarkFloors() map[string]queue.MarkFloor {
	return map[string]queue.MarkFloor{"hub2": {Mark: 4, DB: "dbP"}}
}

func (q *markQueue) SubmitShadowCopiesMarked(ctx context.Context, copies []queue.ShadowCopy, primary, addr, dbID string, mark uint64) ([]queue.CopyResult, error) {
	q.mmu.Lock()
	q.copied = append(q.copied, mark)
	q.mmu.Unlock()
	return q.SubmitShadowCopies(ctx, copies, primary, addr, dbID)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// clientFor is a client logged in to s as hub2 (a server account).
func clientFor(t testing.TB, s *Server) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addrs()[0].String())
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
	return c
}

// Version 7 (rollback marks): XSHADOW <id> MARK asks for the primary's
// mark, which its reply and every XQUERYDISCARD reply of the session
// carry; MARK=<n> DB=<id> presents the client's own, which the server
// checks (ShadowMarkSeen); a copy's MAIL may carry XSHADOWMARK=. A
// server without marks refuses the arguments as before (501).
func TestRollbackMarkVerbs(t *testing.T) {
	q := &markQueue{mark: 5}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 8") {
		t.Fatalf("XSHADOW 8 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK=x DB=db1", "501 5.5.4")
	d.cmd("XSHADOW hub2 MARK DB=db1", "501 5.5.4") // version 10
	d.cmd("XSHADOW hub2 MARK=3", "501 5.5.4")
	d.cmd("XSHADOW hub2 MORE", "501 5.5.4")
	if got := d.cmd("XSHADOW hub2 MARK", "250"); !strings.HasSuffix(got, " MARK=5") {
		t.Fatalf("XSHADOW reply %q: want the mark", got)
	}
	q.mmu.Lock()
	q.mark = 6
	q.mmu.Unlock()
	if got := d.cmd("XQUERYDISCARD 10", "250"); !strings.HasSuffix(got, " MARK=6") {
		t.Fatalf("XQUERYDISCARD reply %q: want the mark read now", got)
	}
	if got := d.cmd("XSHADOW hub2 MARK=9 DB=dbP", "250"); !strings.HasSuffix(got, " MARK=6") {
		t.Fatalf("XSHADOW reply %q", got)
	}
	q.mmu.Lock()
	if len(q.seen) != 1 || q.seen[0] != "hub2 dbP 9 floor 4" {
		t.Fatalf("marks checked: %v; want hub2's 9 of dbP against the floor read at EHLO", q.seen)
	}
	q.mmu.Unlock()
	d.cmd("MAIL FROM:<a@example.org> XSHADOWMARK=4", "501 5.5.4") // only with a copy
	d.cmd("MAIL FROM:<a@example.org> XSHADOWCOPY=dbP XSHADOWMARK=0", "501 5.5.4")
	d.cmd("QUIT", "221")

	// The client presents and asks; OnMark gets every mark.
	c := clientFor(t, s)
	var got []uint64
	floors := 0
	c.MarkFloor = func() (uint64, string) { floors++; return 3, "x" }
	c.OnMark = func(db string, n, floor uint64, floorDB string) {
		if floor != 3 || floorDB != "x" {
			t.Errorf("mark %d handed with floor %d of %q", n, floor, floorDB)
		}
		got = append(got, n)
	}
	c.PresentMark(11, "dbP")
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryDiscard(10); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 6 || got[1] != 6 || floors != 2 {
		t.Fatalf("marks %v (floors read %d), want 6 twice, each after a floor", got, floors)
	}
	q.mmu.Lock()
	if len(q.seen) != 2 || q.seen[1] != "hub2 dbP 11 floor 4" {
		t.Fatalf("marks checked: %v; want the presented 11", q.seen)
	}
	q.mmu.Unlock()
	m := batchMsg("a@example.org", "x@example.net")
	m.HolderMark = 12
	if err := c.PushCopy(m, []byte("Subject: x\r\n\r\nhi\r\n"), "dbP"); err != nil {
		t.Fatal(err)
	}
	q.mmu.Lock()
	defer q.mmu.Unlock()
	if len(q.copied) != 1 || q.copied[0] != 12 {
		t.Fatalf("copies kept with marks %v; want one with 12", q.copied)
	}
}

// A server of version 6 (no marks) refuses MARK as it did before; a
// client sends none to it.
func TestRollbackMarkNotSentToOlderPeer(t *testing.T) {
	s, _ := v6Peer(t)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK", "501 5.5.4")
	d.cmd("QUIT", "221")
	c := clientFor(t, s)
	c.PresentMark(3, "dbP")
	c.OnMark = func(string, uint64, uint64, string) { t.Error("a mark from a server without marks") }
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatalf("XSHADOW to a version-6 server: %v", err)
	}
}

type healthRecord struct {
	mu   sync.Mutex
	keys [][]string
}

func (h *healthRecord) Responsive(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys = append(h.keys, keys)
}

// rt23 NEW-3: a shadow session another server completes here (its
// heartbeat's XQUERYDISCARD, XQUERYHELD) shows that server up: its
// destination health marks are cleared; XSHADOW alone does not.
func TestCompletedShadowQueryClearsPeerMarks(t *testing.T) {
	s, _ := v6Peer(t)
	h := &healthRecord{}
	s.SetPeerHealth(h)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	h.mu.Lock()
	if len(h.keys) != 0 {
		t.Fatalf("cleared on XSHADOW alone: %v", h.keys)
	}
	h.mu.Unlock()
	d.cmd("XQUERYDISCARD 10", "250")
	d.cmd("XQUERYHELD a-1", "250")
	h.mu.Lock()
	if len(h.keys) != 2 || h.keys[0][0] != "hub2" || h.keys[1][0] != "hub2" {
		t.Fatalf("cleared %v; want hub2 after each query", h.keys)
	}
	h.mu.Unlock()
	// The session's completion (its QUIT answered) is a contact too
	// (rt46 Finding 1), counted once the session ends.
	d.cmd("QUIT", "221")
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.keys)
		h.mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) != 3 || h.keys[2][0] != "hub2" {
		t.Fatalf("cleared %v; want hub2 once more at the session's end", h.keys)
	}
}

// F10: a peer that presents its database id at XSHADOW (a relay's
// shadow session) has it recorded as the id of the server keeping the
// copies of what it relays here, before the reply: every MAIL of the
// session commits after it. Asking for the mark alone records nothing.
func TestXShadowRecordsPresentedHolderDatabase(t *testing.T) {
	q := &markQueue{mark: 5}
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	q.mmu.Lock()
	if len(q.held) != 0 {
		t.Fatalf("holder ids recorded without one presented: %v", q.held)
	}
	q.mmu.Unlock()
	c2 := clientFor(t, s)
	c2.PresentMark(3, "dbNew")
	if _, err := c2.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	q.mmu.Lock()
	defer q.mmu.Unlock()
	if len(q.held) != 1 || q.held[0] != "hub2 dbNew" {
		t.Fatalf("holder ids recorded: %v; want hub2's dbNew at its XSHADOW", q.held)
	}
	// rt16a F1: the same id goes to the queue as the database of hub2 as
	// a primary of copies held here (given back when taken over from it).
	if len(q.prim) != 1 || q.prim[0] != "hub2 dbNew" {
		t.Fatalf("primary ids handed to the queue: %v; want hub2's dbNew at its XSHADOW", q.prim)
	}
}

// Version 10: "XSHADOW <id> MARK DB=<id>" presents the client's database
// id without a mark (a client that keeps none for this server): the
// server records the database the client keeps its copies in (the
// relay's holder) before the session's messages, compares no mark, and
// answers with its own. The client sends it only to a server of
// version 10; an older one gets the bare MARK.
func TestDatabaseWithoutMark(t *testing.T) {
	q := &markQueue{mark: 5}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 10") {
		t.Fatalf("XSHADOW 10 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=", "501 5.5.4")
	d.cmd("XSHADOW hub2 MARK DB=db\x01", "501 5.5.4")
	d.cmd("XSHADOW hub2 MARK XB=dbQ", "501 5.5.4")
	if got := d.cmd("XSHADOW hub2 MARK DB=dbQ", "250"); !strings.HasSuffix(got, " MARK=5") {
		t.Fatalf("XSHADOW reply %q: want the mark", got)
	}
	d.cmd("QUIT", "221")
	q.mmu.Lock()
	if len(q.seen) != 0 || len(q.held) != 1 || q.held[0] != "hub2 dbQ" {
		t.Fatalf("marks checked %v, holders recorded %v; want no mark checked and hub2's database dbQ recorded", q.seen, q.held)
	}
	q.mmu.Unlock()

	// The client: the database alone to a server of version 10.
	c := clientFor(t, s)
	c.PresentDatabase("dbR")
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	q.mmu.Lock()
	defer q.mmu.Unlock()
	if len(q.seen) != 0 || len(q.held) != 2 || q.held[1] != "hub2 dbR" {
		t.Fatalf("marks checked %v, holders recorded %v; want dbR recorded, no mark checked", q.seen, q.held)
	}
}
