package smtp

import (
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// ownersQueue knows the database ids of the primaries it keeps copies
// for (DatabaseOwners).
type ownersQueue struct {
	markQueue
	owners map[string]string // database id -> primary record
}

func (q *ownersQueue) ShadowDatabaseOfAnother(server, dbID string) (string, error) {
	if o := q.owners[dbID]; o != "" && o != server {
		return o, nil
	}
	return "", nil
}

// rt17e-F1 (SR-3, W-2): a transport server presenting at XSHADOW the
// database id this server knows as another primary's is refused, and
// nothing is marked, recorded or given back under that id; the pushed
// discards that would follow meet no shadow session. Its own id opens
// the session as before.
func TestXShadowWithAnotherServersDatabase(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	if got := d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1"); !strings.Contains(got, "another server's") || !strings.Contains(got, "nothing changed") {
		t.Fatalf("reply %q: want the id named as another server's, nothing changed", got)
	}
	d.cmd("XSHADOW hub2 MARK=9 DB=dbB", "550 5.7.1")
	d.cmd("XQUERYDISCARD", "503 5.5.1") // no shadow session was opened
	q.mmu.Lock()
	if len(q.seen) != 0 || len(q.held) != 0 || len(q.prim) != 0 {
		t.Fatalf("marks checked %v, holders recorded %v, primaries %v: want nothing for another's database", q.seen, q.held, q.prim)
	}
	q.mmu.Unlock()
	if got := d.cmd("XSHADOW hub2 MARK DB=dbQ", "250"); !strings.HasSuffix(got, " MARK=5") {
		t.Fatalf("XSHADOW reply %q: want the mark", got)
	}
	d.cmd("QUIT", "221")
}

// rt17f-F1 (SR-3, SR-7): the same id presented on a copy on receipt
// (MAIL … XSHADOWCOPY=) is refused the same way: nothing is recorded
// under the session's server, whose copies held here are not taken
// over as if it had returned with a new database.
func TestCopyWithAnotherServersDatabase(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	if got := d.cmd("MAIL FROM:<s@x.test> XSHADOWCOPY=dbB", "550 5.7.1"); !strings.Contains(got, "another server's") || !strings.Contains(got, "nothing changed") {
		t.Fatalf("reply %q: want the id named as another server's, nothing changed", got)
	}
	d.cmd("RCPT TO:<x@elsewhere.org>", "503")
	d.cmd("RSET", "250")
	d.cmd("QUIT", "221")
}

// racedHolders is ownersQueue whose holder record refuses the id the
// check before it let through: another session recorded it as another
// primary's in between (queue.ShadowHolderSeen's own refusal).
type racedHolders struct {
	ownersQueue
}

func (q *racedHolders) ShadowHolderSeen(server, dbID string) (int, string, error) {
	q.ownersQueue.ShadowHolderSeen(server, dbID)
	return 0, "", &queue.DatabaseOfAnotherError{Server: server, DatabaseID: dbID, Other: "hub3"}
}

// mendr19 item 3 (SR-3, OPS- logs): a refusal is an expected outcome,
// not a failure: the holder record's refusal of another server's
// database id (the narrow race past databaseOfAnother) is a WARN naming
// the reason and the peer, never an ERROR, and the session is refused
// as databaseOfAnother refuses it: nothing is given back under that id.
func TestXShadowHolderRefusalIsWarned(t *testing.T) {
	q := &racedHolders{ownersQueue{markQueue: markQueue{mark: 5}}}
	logs := &syncBuffer{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: q,
		Shadow: newPartialShadow(), ShadowEnabled: true, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	if got := d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1"); !strings.Contains(got, "another server's") || !strings.Contains(got, "nothing changed") {
		t.Errorf("reply %q: want the id named as another server's, nothing changed", got)
	}
	d.cmd("XQUERYDISCARD", "503 5.5.1") // no shadow session was opened
	d.cmd("QUIT", "221")
	if l := logs.lines("level=ERROR"); len(l) != 0 {
		t.Errorf("a refusal logged as an error: %q", l)
	}
	warn := logs.lines("level=WARN")
	if len(warn) != 1 || !strings.Contains(warn[0], "another server's") || !strings.Contains(warn[0], "known_as=hub3") ||
		!strings.Contains(warn[0], "shadow_server=hub2") || !strings.Contains(warn[0], "remote=127.0.0.1") {
		t.Errorf("want one WARN with the reason and the peer, got %q", warn)
	}
	q.mmu.Lock()
	defer q.mmu.Unlock()
	if len(q.prim) != 0 {
		t.Errorf("primaries given back under a refused id: %v", q.prim)
	}
}

// rt23a F1 (SR-3, OPS- logs): a server that presents another server's
// database id does so in every session — a copy of another's data dir
// probes and pushes each heartbeat timeout — and was WARNed of at each:
// the WARN is once per server and id (then DEBUG), every session still
// refused.
func TestAnotherServersDatabaseWarnedOnce(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	logs := &syncBuffer{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: q,
		Shadow: newPartialShadow(), ShadowEnabled: true, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	for i := 0; i < 3; i++ {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
		d.cmd("XSHADOW hub2", "250")
		d.cmd("MAIL FROM:<s@x.test> XSHADOWCOPY=dbB", "550 5.7.1")
		d.cmd("QUIT", "221")
	}
	if warn := logs.lines("another server's"); len(warn) != 1 {
		t.Fatalf("%d WARNs of 6 refusals of one server and id, want 1: %q", len(warn), warn)
	}
}

// anotherDBObserver counts the refusals of another server's database id
// (DatabaseRefusalObserver) by their label.
type anotherDBObserver struct {
	nopObserver
	mu      sync.Mutex
	refused map[string]int
}

func (o *anotherDBObserver) AnotherDatabaseRefused(server string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refused[server]++
}

func (o *anotherDBObserver) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.refused)
}

// reread23 F4 (SR-3, OPS- logs and metrics): the WARN of a push or probe
// refused for another server's database id was once per process per
// (server, id), never again, and nothing counted it. Every refusal is
// counted (labelled with the server's name, a transport server of the
// topology, else "other"); the WARN comes once per server per
// anotherDatabaseLogEvery with the refusals not logged since, and again
// at once after that server's sessions are accepted again (logged at
// INFO with the count).
func TestAnotherServersDatabaseCountedPacedAndReset(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	logs := &syncBuffer{}
	clk := clock.NewFake(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	obs := &anotherDBObserver{refused: map[string]int{}}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(), Queue: q,
		Shadow: newPartialShadow(), ShadowEnabled: true, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock: clk, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "hub2.example.test:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	refuse := func(n int) {
		t.Helper()
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		for i := 0; i < n; i++ {
			d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1") // a probe's or push's session
		}
		d.cmd("QUIT", "221")
	}
	warns := func() []string { return logs.lines("level=WARN") }

	refuse(3)
	if w := warns(); len(w) != 1 || !strings.Contains(w[0], "shadow_server=hub2") || !strings.Contains(w[0], "database_id=dbB") {
		t.Fatalf("after 3 refusals: WARNs %q, want 1 naming hub2 and dbB", w)
	}
	clk.Advance(anotherDatabaseLogEvery - time.Second)
	refuse(1)
	if w := warns(); len(w) != 1 {
		t.Fatalf("within the interval: %d WARNs, want 1", len(w))
	}
	clk.Advance(2 * time.Second)
	refuse(1)
	w := warns()
	if len(w) != 2 || !strings.Contains(w[1], "refused_since_last_warning=3") {
		t.Fatalf("after the interval: WARNs %q, want a second one counting the 3 refusals not logged since", w)
	}

	// Accepted again (its own database id): said once, and the next
	// refusal is WARNed at once.
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbQ", "250")
	d.cmd("XSHADOW hub2 MARK DB=dbQ", "250")
	d.cmd("QUIT", "221")
	if info := logs.lines("accepted again"); len(info) != 1 || !strings.Contains(info[0], "refusals=5") {
		t.Fatalf("accepted again: %q, want one line counting the 5 refusals", info)
	}
	refuse(1)
	if w := warns(); len(w) != 3 {
		t.Fatalf("first refusal after an accepted session: %d WARNs, want 3", len(w))
	}
	if got := obs.counts(); got["hub2"] != 6 || len(got) != 1 {
		t.Fatalf("counted %v, want hub2: 6", got)
	}
	// A name that is no transport server of the topology is counted
	// under "other": the label set stays the configured servers.
	s.SetServers(nil)
	refuse(1)
	if got := obs.counts(); got["other"] != 1 {
		t.Fatalf("without a topology: counted %v, want other: 1", got)
	}
}

// rrrcpt40 item 4 (SR-7, W-2): a copy on receipt whose XSHADOWCOPY= id
// is not the transport database id the session's XSHADOW presented
// (DB=) is refused, nothing recorded: kept, it would set another id on
// the primary's record — read as the primary returned with a new
// database, every copy of it taken over while it delivers them itself,
// and again at its next XSHADOW with its own id. The presented id is
// accepted; a session whose XSHADOW presented none checks nothing.
func TestCopyWithOtherThanPresentedDatabase(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbQ", "250")
	if got := d.cmd("MAIL FROM:<s@x.test> XSHADOWCOPY=dbZ", "550 5.7.1"); !strings.Contains(got, "dbQ") || !strings.Contains(got, "nothing changed") {
		t.Fatalf("reply %q: want the presented id named, nothing changed", got)
	}
	d.cmd("RCPT TO:<x@elsewhere.org>", "503")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<> XSHADOWCOPY=dbZ XSHADOWBATCH=1", "550 5.7.1")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<s@x.test> XSHADOWCOPY=dbQ", "250")
	d.cmd("RSET", "250")
	d.cmd("QUIT", "221")

	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("MAIL FROM:<s@x.test> XSHADOWCOPY=dbZ", "250")
	d.cmd("RSET", "250")
	d.cmd("QUIT", "221")
}
