package queue

import (
	"context"
	"strings"

	"umbra/internal/mailaddr"
)

// ServerAddresses is the part of the topology that says where a server
// is (routing.Topology): its address ("host:port" as written), and the
// server whose address a "host:port" is ("": none, or several).
type ServerAddresses interface {
	ServerAddress(name string) (hostport string, known bool)
	ServerWithAddress(hostport string) string
}

// followServers moves the records of primaries to the addresses the
// topology now gives their servers, in one commit: the copies held for
// a server, and its record, follow its identity — its server name, with
// the database id it presents — not the address they were made at, so
// a reload (or a restart) that moves a server neither sends its
// heartbeats to where it was (its copies taken over while it is alive)
// nor leaves its discards unfetched, and a record kept under a send
// connector's host name still reaches (reaches) the server it was made
// against. old is the topology before a reload (nil at start).
//
// A record is at a server when the topology says its address is one of
// the server's (Servers.ServerAtHostPort: the IP of its address, or one
// of its Sources) at the port of its address, or is that address as
// written (atServer): the port counts here, since the record's address
// is where its heartbeats go. reaches asks the IP only: a record kept
// under a send connector's host name is that server's whichever of its
// receive connectors the copies went to. A record still at its server
// in cur stays. Else a
// record under a server's own name goes to that server's address,
// keeping the send connector it went through, when it was at the
// server in old — or, at start (old unknown), when it went through
// none. A record under another name (a send connector's host name)
// follows the server whose address it was in old; at start no such
// server is known, and the record stays. The copies' own addresses are
// not rewritten: heartbeats, give-backs and the operator's view read
// the record's.
func (q *Manager) followServers(old, cur Servers) {
	na, ok := cur.(ServerAddresses)
	if !ok {
		return
	}
	oa, _ := old.(ServerAddresses)
	moveTo := func(p *ShadowPeer) string {
		host, via, _ := strings.Cut(p.Addr, " via ")
		if host == "" {
			return ""
		}
		name := p.Primary
		now, known := na.ServerAddress(name)
		if !known {
			if oa == nil {
				return ""
			}
			if name = oa.ServerWithAddress(host); name == "" {
				return ""
			}
			if now, known = na.ServerAddress(name); !known {
				return ""
			}
		}
		if now == "" || atServer(cur, name, host, now) {
			return ""
		}
		if oa != nil {
			if was, wasKnown := oa.ServerAddress(name); !wasKnown || !atServer(old, name, host, was) {
				return ""
			}
		} else if via != "" {
			return ""
		}
		if via != "" {
			now += " via " + via
		}
		return now
	}
	var moved []string
	find := func(tx *Tx) ([]*ShadowPeer, error) {
		peers, _, err := tx.Peers()
		var out []*ShadowPeer
		for _, p := range peers {
			if addr := moveTo(p); addr != "" {
				moved = append(moved, p.Primary+": "+p.Addr+" -> "+addr)
				p.Addr = addr
				out = append(out, p)
			}
		}
		return out, err
	}
	var n int
	err := q.store.View(func(tx *Tx) error { // most reloads move nobody: no commit
		found, err := find(tx)
		n = len(found)
		return err
	})
	if err == nil && n > 0 {
		err = q.store.Update(context.Background(), func(tx *Tx) error {
			moved = moved[:0]
			found, err := find(tx)
			for _, p := range found {
				if err == nil {
					err = tx.PutPeer(p)
				}
			}
			return err
		})
	}
	if err != nil {
		q.log.Error("moving the primaries' records to their servers' addresses failed", "err", err)
		return
	}
	for _, m := range moved {
		q.log.Info("primary moved: its copies follow it", "move", m)
	}
}

// atServer: host ("host:port", as a record keeps it) is server name's
// in the topology d, whose address for it is addr: addr itself, or an
// address of the server's (ServerAtHostPort) at addr's port.
func atServer(d Servers, name, host, addr string) bool {
	if host == addr {
		return true
	}
	_, ok := d.ServerAtHostPort(name, host)
	return ok && portOf(host) == portOf(addr)
}

// portOf is the port of "host:port" as the one HOST[:PORT] parser reads
// it (mailaddr.SplitHostPort): "" for none (a bare IPv6 address has
// none) or for text that is no HOST[:PORT].
func portOf(hostport string) string {
	_, port, err := mailaddr.SplitHostPort(hostport)
	if err != nil {
		return ""
	}
	return port
}
