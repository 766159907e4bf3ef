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
func (q *Manager) ShadowPushed(primary string, discards []string) (ContactResult, error) {
	known := false
	if err := q.store.View(func(tx *Tx) error {
		p, err := tx.Peer(primary)
		known = p != nil
		return err
	}); err != nil {
		return ContactResult{}, err
	}
	if !known || len(discards) == 0 {
		return ContactResult{}, nil
	}
	return q.ShadowPresented(primary, "", discards)
}
