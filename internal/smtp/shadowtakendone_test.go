package smtp

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// takenDoneShadow keeps notes by the primary's database id.
type takenDoneShadow struct {
	*pushShadow
	mu    sync.Mutex
	notes map[string][]queue.TakenDone
	acked int
}

func (d *takenDoneShadow) TakenDoneFor(dbID string, max int) ([]queue.TakenDone, func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.notes[dbID]
	if len(ns) > max {
		ns = ns[:max]
	}
	ns = slices.Clone(ns)
	return ns, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.acked += len(ns)
		d.notes[dbID] = d.notes[dbID][len(ns):]
	}
}

func (d *takenDoneShadow) ackedNow() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked
}

// Version 15: XQUERYTAKENDONE lists what this server finished of the
// copies it took over from the database the session's XSHADOW presented
// — to that session only, forgotten once the client speaks again; a
// session that presented no database hears of none; the client asks
// only a server of 15, and a server without the queue's support offers
// 14 (TestPushDiscardVerb).
func TestQueryTakenDoneVerb(t *testing.T) {
	const db, other = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	sh := &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{
			db:    {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenFailed}, {ID: "a-1", Kind: queue.TakenDelayed}, {ID: "b-2", Addr: "Joe+1@r.example", Kind: queue.TakenDelivered}},
			other: {{ID: "z-9", Addr: "y@remote.example", Kind: queue.TakenRelayed}}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 15") {
		t.Fatalf("XSHADOW 15 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XQUERYTAKENDONE 5", "503 5.5.1") // no shadow session yet
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYTAKENDONE", "501 5.5.4")
	d.cmd("XQUERYTAKENDONE 0", "501 5.5.4")
	d.cmd("XQUERYTAKENDONE +2", "501 5.5.4")
	if got := d.cmd("XQUERYTAKENDONE 5", "250 2.0.0"); got != "250 2.0.0 0 finished here" {
		t.Fatalf("a session that presented no database heard: %q", got)
	}
	d.cmd("XSHADOW hub2 MARK DB="+db, "250")
	if got := d.cmd("XQUERYTAKENDONE 2", "250 a-1 DELAYED"); got != "250-2.0.0 2 finished here\n250-a-1 RCPT=x@remote.example FAILED\n250 a-1 DELAYED" {
		t.Fatalf("reply:\n%s", got)
	}
	if n := sh.ackedNow(); n != 0 {
		t.Fatalf("%d forgotten before the client spoke again", n)
	}
	if got := d.cmd("XQUERYTAKENDONE 2", "250 b-2"); got != "250-2.0.0 1 finished here\n250 b-2 RCPT=Joe+2B1@r.example DELIVERED" {
		t.Fatalf("second reply:\n%s", got)
	}
	d.cmd("QUIT", "221")
	waitUntil(t, func() bool { return sh.ackedNow() == 3 })

	c := clientFor(t, s)
	c.PresentDatabase(other)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 15 {
		t.Fatalf("client speaks version %d, want 15", c.ShadowVersion)
	}
	notes, err := c.QueryTakenDone(10, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []queue.TakenDone{{ID: "z-9", Addr: "y@remote.example", Kind: queue.TakenRelayed}}; !slices.Equal(notes, want) {
		t.Fatalf("client read %+v, want %+v (the notes of its own database only)", notes, want)
	}
	c.ShadowVersion = 14 // an older peer is not asked
	if notes, err := c.QueryTakenDone(10, ""); err != nil || notes != nil {
		t.Fatalf("asked a version-14 peer: %+v %v", notes, err)
	}
}

// The wire form of a note reads back as written; other lines do not read.
func TestTakenDoneWire(t *testing.T) {
	for _, n := range []queue.TakenDone{{ID: "a-1", Addr: "a b@x", Kind: queue.TakenFailed}, {ID: "a-1", Kind: queue.TakenDelayed},
		{ID: "c-3", Addr: "q@x", Kind: queue.TakenRelayed}, {ID: "d-4", Addr: "r@x", Kind: queue.TakenDelivered}, {ID: "e-5", Kind: queue.TakenHeld}, {ID: "f-6", Kind: queue.TakenBusy}} {
		got, ok := queue.ParseTakenDone(n.Wire())
		if !ok || got != n {
			t.Errorf("%q read as %+v %v, want %+v", n.Wire(), got, ok, n)
		}
	}
	for _, bad := range []string{"", "a-1", "a-1 RCPT=x@y", "a-1 RCPT=x@y GONE", "a-1 RCPT= FAILED", "a-1 RCPT=x@y DELAYED", "a-1 DELAYED x", "a-1 RCPT=x@y HELD", "a-1 HELD x", "a-1 RCPT=x@y BUSY", "a-1 BUSY x"} {
		if n, ok := queue.ParseTakenDone(bad); ok {
			t.Errorf("%q read as %+v", bad, n)
		}
	}
}

// heldNoteShadow also keeps held notes (version 16): TakenDoneFor lists
// only the others, as the queue does; TakenDoneHeldFor all.
type heldNoteShadow struct {
	*takenDoneShadow
	plain, withHeld int // calls of each
}

func (d *heldNoteShadow) TakenDoneFor(dbID string, max int) ([]queue.TakenDone, func()) {
	d.mu.Lock()
	d.plain++
	var ns []queue.TakenDone
	for _, n := range d.notes[dbID] {
		if n.Kind != queue.TakenHeld && len(ns) < max {
			ns = append(ns, n)
		}
	}
	d.mu.Unlock()
	return ns, func() {}
}

func (d *heldNoteShadow) TakenDoneHeldFor(dbID string, max int) ([]queue.TakenDone, func()) {
	d.mu.Lock()
	d.withHeld++
	d.mu.Unlock()
	return d.takenDoneShadow.TakenDoneFor(dbID, max)
}

// Version 16 (rt21a M1): "XQUERYTAKENDONE <max> HELD" lists the copies
// held here when given back as well; a query without HELD — an older
// primary's — is answered by TakenDoneFor, which lists none; a server
// of 15 refuses HELD as a syntax error (TestQueryTakenDoneVerb: the
// client of 16 sends no HELD to it).
func TestQueryTakenDoneHeldVerb(t *testing.T) {
	const db = "0123456789abcdef0123456789abcdef"
	sh := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{db: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}, {ID: "b-2", Kind: queue.TakenHeld}}}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 16") {
		t.Fatalf("XSHADOW 16 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+db, "250")
	d.cmd("XQUERYTAKENDONE 5 HELDX", "501 5.5.4")
	if got := d.cmd("XQUERYTAKENDONE 5", "250 a-1"); got != "250 2.0.0 1 finished here" && got != "250-2.0.0 1 finished here\n250 a-1 RCPT=x@remote.example DELIVERED" {
		t.Fatalf("a query without HELD heard:\n%s", got)
	}
	if got := d.cmd("XQUERYTAKENDONE 5 held", "250 b-2"); got != "250-2.0.0 2 finished here\n250-a-1 RCPT=x@remote.example DELIVERED\n250 b-2 HELD" {
		t.Fatalf("reply with HELD:\n%s", got)
	}
	d.cmd("QUIT", "221")
	sh.mu.Lock()
	plain, withHeld := sh.plain, sh.withHeld
	sh.mu.Unlock()
	if plain != 1 || withHeld != 1 {
		t.Fatalf("TakenDoneFor called %d times, TakenDoneHeldFor %d: want 1 and 1", plain, withHeld)
	}

	waitUntil(t, func() bool { return sh.ackedNow() == 2 })
	sh.mu.Lock()
	sh.notes[db] = []queue.TakenDone{{ID: "b-2", Kind: queue.TakenHeld}}
	sh.mu.Unlock()
	c := clientFor(t, s)
	c.PresentDatabase(db)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 16 {
		t.Fatalf("client speaks version %d, want 16", c.ShadowVersion)
	}
	notes, err := c.QueryTakenDone(10, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(notes, queue.TakenDone{ID: "b-2", Kind: queue.TakenHeld}) {
		t.Fatalf("client of 16 read %+v: no held note", notes)
	}
}
