package smtp

import (
	"strings"
	"testing"
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
