package routing

import (
	"context"
	"errors"
	"fmt"
)

// DatabaseSource assigns mailbox databases to recipients ahead of the
// topology's recipient map: the organisation's directory (package
// ldapdir's database attribute). found is false when the source has no
// assignment for rcpt (the recipient map decides then); an error means
// it cannot answer now, and the recipient waits (Route.Tempfail) rather
// than being routed by a guess. The source bounds its own time (a cache
// and a timeout) and honours ctx (the attempt's: a stop ends the wait);
// an error that wraps context.DeadlineExceeded is the source not
// answering in time. Routing stays free of I/O of its own.
//
// CachedMailboxDatabase answers from what the source holds, without
// I/O: known is false when only asking the directory can tell. A
// delivery's plan (PlanRoute) uses it, since planning runs on the
// receiving session's or the scheduler's goroutine and must never wait
// on a peer; the attempt's job asks (RouteContext).
type DatabaseSource interface {
	MailboxDatabase(ctx context.Context, rcpt string) (db string, found bool, err error)
	CachedMailboxDatabase(rcpt string) (db string, found, known bool)
}

// SetDatabases makes the topology ask src first for the mailbox
// database of a recipient. Call it before the topology is shared (it is
// immutable after that).
func (t *Topology) SetDatabases(src DatabaseSource) { t.dbsrc = src }

// assigned asks the database source: db is the assigned database (nil
// when the source has none), or tempfail says why the recipient waits.
// With noIO (a plan), only the source's cached answers count: lookup
// is true when the directory would have to be asked.
func (t *Topology) assigned(ctx context.Context, rcpt string, noIO bool) (db *Database, tempfail string, lookup bool) {
	if t.dbsrc == nil {
		return nil, "", false
	}
	var name string
	var found bool
	var err error
	if noIO {
		var known bool
		if name, found, known = t.dbsrc.CachedMailboxDatabase(rcpt); !known {
			return nil, "", true
		}
	} else {
		name, found, err = t.dbsrc.MailboxDatabase(ctx, rcpt)
	}
	db, tempfail = t.assignedDB(ctx, name, found, err)
	return db, tempfail, false
}

func (t *Topology) assignedDB(ctx context.Context, name string, found bool, err error) (db *Database, tempfail string) {
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, "451 4.4.3 mailbox database not assigned: the attempt ended while the directory was asked"
	case errors.Is(err, context.DeadlineExceeded):
		return nil, "451 4.4.3 directory did not answer in time: mailbox database not assigned"
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
