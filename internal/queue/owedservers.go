package queue

import (
	"bytes"
	"context"
	"strings"
)

// OwedDiscardServers lists the shadow servers this server owes discard
// notifications to (full or partial: buckets discards and partial), each
// once, in key order. A stop hands them over (delivery PushDiscards)
// rather than leave them to the servers' next query: a primary that does
// not come back soon would have them take over what it delivered.
func (q *Manager) OwedDiscardServers() ([]string, error) {
	// The forgettings of notifications acknowledged and set aside to ride
	// along (forgetsent.go) are committed first: a server that has them
	// all is owed nothing.
	if q.forgetting.len() > 0 {
		_ = q.store.Settle(context.Background())
	}
	var out []string
	err := q.store.View(func(tx *Tx) error {
		seen := map[string]bool{}
		for _, name := range [][]byte{bucketDiscards, bucketPartial} {
			c := tx.tx.Bucket(name).Cursor()
			for k, _ := c.First(); k != nil; {
				server, _, ok := bytes.Cut(k, []byte{0})
				if !ok {
					k, _ = c.Next()
					continue
				}
				if s := string(server); !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
				k, _ = c.Seek(append(bytes.Clone(server), 1)) // past this server's keys
			}
		}
		return nil
	})
	return out, err
}

// ShadowPushed applies the discard notifications a primary pushed to this
// server (XDISCARD, shadow verbs 13: it is stopping) as ShadowPresented
// applies those of a broken query: no database id, no contact. A primary
// this server keeps no state for holds no copy here: nothing is written,
// so a push never makes a primary this server would then heartbeat.
//
// Which primary pushed is decided by who the session is, not by the name
// form (primariesOf): primary is the authenticated server's XSHADOW id and
// dbID the transport database id it presented there (or ""). A server
// this one relayed to through a send connector is kept under the host
// name of the connector, not its server name; its copies are found by
// the address they went to, one of that server's in the topology
// (SetServers), with the database id they were made against presented
// as dbID: the address alone may be a departed primary's, the topology's
// server there another host (rt44-shadow4 F1). A database id alone names
// no server: it is learnt by any peer that opens a session (rt17e-F1). A record under primary's own name with another database is
// not that server's any more (SR-7 takes its copies over): the push does
// not touch it.
func (q *Manager) ShadowPushed(primary, dbID string, discards []string) (ContactResult, error) {
	return q.ShadowPushedMarked(primary, dbID, 0, discards)
}

// ShadowPushedMarked is ShadowPushed for a push session whose XSHADOW
// presented the primary's rollback mark (MARK=<n> DB=<dbID>; 0 for
// none): an early discard among the ones pushed is kept under it
// (AddEarlyDiscard). It was read at the primary before the discards were
// sent, so it is no later than any of them: a copy committed after one
// of them is placed after it and kept. An umbra primary presents it
// again, read with the listing of the discards it pushes, when it rose
// since the session opened (delivery handDiscards, markedlisting.go): the
// copy a discard was for is not above it. From a primary of an earlier
// release it may be, and is then kept — a copy the primary no longer
// names (earlystale.go), never one lost.
func (q *Manager) ShadowPushedMarked(primary, dbID string, mark uint64, discards []string) (ContactResult, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if len(discards) == 0 {
		return ContactResult{}, nil
	}
	names, err := q.primariesOf(primary, dbID)
	if err != nil {
		return ContactResult{}, err
	}
	var res ContactResult
	for _, name := range names {
		r, err := q.shadowPresentedAt(name, "", DiscardMark{Mark: mark, DB: dbID}, discards)
		if err != nil {
			return res, err
		}
		res.Discarded += r.Discarded
	}
	q.answered.notePushed(primary, q.clk.Now())
	return res, nil
}

// Servers is what the queue knows of the organisation's servers: the
// topology (routing.Topology.ServerAtHostPort). known: name is a server
// of the topology; ok: the address of hostport ("host:port", as the
// queue keeps it; "" asks only known) is one of its addresses. The
// queue parses no network address itself (it imports no net package).
type Servers interface {
	ServerAtHostPort(name, hostport string) (known, ok bool)
}

// SetServers gives the queue the topology (nil: none). Without one, a
// session speaks for the records under its own server name only. The
// records of primaries follow their servers to the addresses the
// topology gives them now (followServers).
func (q *Manager) SetServers(d Servers) {
	if d == nil {
		q.servers.Store(nil)
		return
	}
	var old Servers
	if o := q.servers.Swap(&d); o != nil {
		old = *o
	}
	q.followServers(old, d)
	q.warnUnclaimedOwed() // holdernames.go
}

// reaches: the record p, kept under a name that is no server of the
// topology (a send connector's host name), was made against server name
// — the address its copies went to (Addr: "host:port", "host:port via
// CONNECTOR") is one of name's in the topology (rt17e-F1), at any port:
// every receive connector of the server is the server (followServers'
// atServer also asks the port: a record's address is where its
// heartbeats go).
func (q *Manager) reaches(name string, p *ShadowPeer) bool {
	d := q.servers.Load()
	if d == nil || p.Primary == name {
		return false
	}
	if known, _ := (*d).ServerAtHostPort(p.Primary, ""); known {
		return false // another server's own record
	}
	addr, _, _ := strings.Cut(p.Addr, " via ")
	_, ok := (*d).ServerAtHostPort(name, addr)
	return ok
}

// primariesOf names the primary records a session authenticated as the
// transport server name, presenting the database id dbID (or ""), speaks
// for: name's own when its stored database is dbID (or either is not
// known), and every record kept under a send connector's host name whose
// copies went to one of name's addresses in the topology (reaches), when
// its stored database is dbID. A database id never names a server by
// itself: it only confirms (rt17e-F1). But an address alone confirms
// nothing either: a record under a name the topology does not list may
// be a departed primary's (departed42), and the server the topology now
// puts at its address another host (rt44-shadow4 F1: a new hub at a
// removed hub's address, presenting no database id, discarded the
// removed hub's copies, lost when it then died). So such a record is
// spoken for only with the database id it keeps presented, never with
// none, nor when it keeps none. In key order after name.
func (q *Manager) primariesOf(name, dbID string) ([]string, error) {
	var out []string
	err := q.store.View(func(tx *Tx) error {
		out = out[:0]
		p, err := tx.Peer(name)
		if err != nil {
			return err
		}
		if p != nil && (dbID == "" || p.DatabaseID == "" || p.DatabaseID == dbID) {
			out = append(out, name)
		}
		peers, _, err := tx.Peers()
		for _, o := range peers {
			if dbID != "" && o.DatabaseID == dbID && q.reaches(name, o) {
				out = append(out, o.Primary)
			}
		}
		return err
	})
	return out, err
}

// ShadowDatabaseOfAnother names a primary record that keeps dbID as its
// transport database and that a session authenticated as name does not
// speak for (primariesOf), or "": a server presenting another's
// database id is refused (rt17e-F1).
func (q *Manager) ShadowDatabaseOfAnother(name, dbID string) (string, error) {
	other := ""
	if dbID == "" {
		return "", nil
	}
	err := q.store.View(func(tx *Tx) error {
		var err error
		other, err = q.databaseOfAnotherTx(tx, name, dbID)
		return err
	})
	return other, err
}

// databaseOfAnotherTx is ShadowDatabaseOfAnother in a transaction: the
// one check every path by which a peer's database id enters this
// server's records goes through (XSHADOW DB=, MAIL XSHADOWCOPY=, the
// database id of a contact: rt17f-F1; the next hop's on a relay's
// copy). A seek in the index of the ids met (peerdb.go), which keeps an
// id its primary's after its record goes: its cost does not grow with
// the number of primaries known.
func (q *Manager) databaseOfAnotherTx(tx *Tx, name, dbID string) (other string, err error) {
	return q.databaseOfAnotherAtTx(tx, name, "", dbID)
}

// databaseOfAnotherAtTx is databaseOfAnotherTx for a session with name
// at addr ("host:port", or "" when not known): the relay path's next
// hop, whose record may not exist yet, is judged by the address its copy
// went to as its record would be.
func (q *Manager) databaseOfAnotherAtTx(tx *Tx, name, addr, dbID string) (other string, err error) {
	// This server's own id is the one id it certainly knows as
	// another's than any peer's (rt18e-F1): a peer presenting it is
	// refused, and nothing records it.
	if dbID != "" && dbID == q.store.DatabaseID() {
		return "this server", nil
	}
	var self *ShadowPeer
	selfRead := false
	tx.peerDBOwners(dbID, func(primary, at string) bool {
		o := &ShadowPeer{Primary: primary, Addr: at}
		if sameServer(primary, name) || q.reaches(name, o) {
			return true
		}
		// name is a send connector's host name whose copies went to
		// o's server: the same server (a heartbeat to it, SR-16).
		if !selfRead {
			self, err = tx.Peer(name)
			selfRead = true
			if err == nil && self == nil && addr != "" {
				self = &ShadowPeer{Primary: name, Addr: addr}
			}
		}
		if err != nil {
			return false
		}
		if self != nil && q.reaches(primary, self) {
			return true
		}
		other = primary
		return false
	})
	return other, err
}

// DatabaseOfAnotherError refuses a database id presented for Server that
// this server keeps as Other's (rt17f-F1): nothing was changed.
type DatabaseOfAnotherError struct {
	Server, DatabaseID, Other string
}

func (e *DatabaseOfAnotherError) Error() string {
	return "transport database id " + e.DatabaseID + " presented by " + e.Server + " is " + e.Other + "'s here; nothing changed"
}

// AnotherServersDatabase marks the refusal for packages that log it
// without knowing the queue (shadow's recorder logs it as a WARN).
func (e *DatabaseOfAnotherError) AnotherServersDatabase() bool { return true }

// OtherServer is the server this server keeps the id as (shadow's
// recorder names it in what the operator does).
func (e *DatabaseOfAnotherError) OtherServer() string { return e.Other }

// refuseDatabaseOfAnotherTx gives a *DatabaseOfAnotherError when dbID is
// another primary's than name's (databaseOfAnotherTx).
func (q *Manager) refuseDatabaseOfAnotherTx(tx *Tx, name, dbID string) error {
	other, err := q.databaseOfAnotherTx(tx, name, dbID)
	if err != nil {
		return err
	}
	if other != "" {
		return &DatabaseOfAnotherError{Server: name, DatabaseID: dbID, Other: other}
	}
	return nil
}
