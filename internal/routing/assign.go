package routing

import "fmt"

// DatabaseSource assigns mailbox databases to recipients ahead of the
// topology's recipient map: the organisation's directory (package
// ldapdir, Exchange's homeMDB). found is false when the source has no
// assignment for rcpt (the recipient map decides then); an error means
// it cannot answer now, and the recipient waits (Route.Tempfail) rather
// than being routed by a guess. The source bounds its own time (a cache
// and a timeout); routing stays free of I/O of its own.
type DatabaseSource interface {
	MailboxDatabase(rcpt string) (db string, found bool, err error)
}

// SetDatabases makes the topology ask src first for the mailbox
// database of a recipient. Call it before the topology is shared (it is
// immutable after that).
func (t *Topology) SetDatabases(src DatabaseSource) { t.dbsrc = src }

// assigned asks the database source: db is the assigned database (nil
// when the source has none), or tempfail says why the recipient waits.
func (t *Topology) assigned(rcpt string) (db *Database, tempfail string) {
	if t.dbsrc == nil {
		return nil, ""
	}
	name, found, err := t.dbsrc.MailboxDatabase(rcpt)
	switch {
	case err != nil:
		return nil, "451 4.4.3 directory cannot assign a mailbox database now"
	case !found:
		return nil, ""
	}
	if d := t.databases[name]; d != nil {
		return d, ""
	}
	// A directory naming a database the topology does not have is a
	// configuration fault the operator can fix: the mail waits.
	return nil, fmt.Sprintf("451 4.4.3 directory assigns unknown mailbox database %q", name)
}
