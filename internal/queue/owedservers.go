package queue

import "bytes"

// OwedDiscardServers lists the shadow servers this server owes discard
// notifications to (full or partial: buckets discards and partial), each
// once, in key order. A stop hands them over (delivery PushDiscards)
// rather than leave them to the servers' next query: a primary that does
// not come back soon would have them take over what it delivered.
func (q *Manager) OwedDiscardServers() ([]string, error) {
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
// the database id they were made against, a secret of the transport
// servers. A record under primary's own name with another database is
// not that server's any more (SR-7 takes its copies over): the push does
// not touch it.
func (q *Manager) ShadowPushed(primary, dbID string, discards []string) (ContactResult, error) {
	if len(discards) == 0 {
		return ContactResult{}, nil
	}
	names, err := q.primariesOf(primary, dbID)
	if err != nil {
		return ContactResult{}, err
	}
	var res ContactResult
	for _, name := range names {
		r, err := q.ShadowPresented(name, "", discards)
		if err != nil {
			return res, err
		}
		res.Discarded += r.Discarded
	}
	return res, nil
}

// primariesOf names the primary records a session authenticated as the
// transport server name, presenting the database id dbID (or ""), speaks
// for: name's own when its stored database is dbID (or either is not
// known), and every other record whose stored database id is dbID — the
// same server known here by a send connector's host name. In key order
// after name.
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
		if dbID == "" {
			return nil
		}
		peers, _, err := tx.Peers()
		for _, o := range peers {
			if o.Primary != name && o.DatabaseID == dbID {
				out = append(out, o.Primary)
			}
		}
		return err
	})
	return out, err
}
