package smtp

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
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
