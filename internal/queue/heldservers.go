package queue

import (
	"bytes"
	"strings"
)

// What this server holds of other servers, by the record it keeps of
// each primary (bucket peers: name, where its heartbeats go, its
// database id), for package smtp's binding of a server its topology no
// longer names (departed42, smtp departed.go): a primary dropped from
// the topology by a reload mid-rollout still asks here what became of
// the copies this server took over, and fetches its discards. The
// record lives while copies are held for it (taken over or not), while
// taken-done notes made under its database id are owed to it (ShadowPeers
// keeps it for them: heldNotesFor), and peerGrace after.

// HeldServer reports the address ("host:port") the record of primary
// names and the transport database id it records for it, ok false when
// there is none, or when the copies went through a send connector
// ("host:port via CONNECTOR": a server outside the organisation opens
// no shadow session here). The id is what a session at that address
// must present to speak as the primary (smtp departed.go): the address
// alone may be another host's by now.
func (q *Manager) HeldServer(primary string) (addr, dbID string, ok bool) {
	_ = q.store.View(func(tx *Tx) error {
		p, err := tx.Peer(primary)
		if err != nil || p == nil {
			return err
		}
		addr, ok = heldAddr(p.Addr)
		dbID = p.DatabaseID
		return nil
	})
	return addr, dbID, ok
}

// HeldServerAddresses lists the addresses the held records name
// (HeldServer's), each once.
func (q *Manager) HeldServerAddresses() []string {
	var out []string
	_ = q.store.View(func(tx *Tx) error {
		peers, _, err := tx.Peers()
		seen := map[string]bool{}
		for _, p := range peers {
			if a, ok := heldAddr(p.Addr); ok && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
		return err
	})
	return out
}

// heldAddr is a record's address when it is a server's own ("host:port").
func heldAddr(addr string) (string, bool) {
	if addr == "" || strings.Contains(addr, " ") {
		return "", false
	}
	return addr, true
}

// heldNotesFor: taken-done notes made under database id dbID are kept
// here, owed to the primary that runs it.
func (t *Tx) heldNotesFor(dbID string) bool {
	if dbID == "" {
		return false
	}
	b := t.tx.Bucket(bucketTakenDone)
	if b == nil {
		return false
	}
	prefix := append([]byte(dbID), 0)
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}
