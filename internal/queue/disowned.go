package queue

import (
	"context"
	"errors"
	"time"
)

// A primary that disowned this server (rt27a F2).
//
// A server started on a copy of another's data dir presents that
// server's transport database id; the primaries whose copies it holds
// refuse its sessions ("Database id … is another server's here"). Its
// copies are stale — made on the data dir's owner, which gets the
// discards — and can never be discarded here. A refused heartbeat is
// no failure (the primary is alive: shadow doc.go, Judging a refusal),
// but the same primary down for the takeover delay turned the refusals
// into failed heartbeats, and the copies were taken over and delivered
// a second time. The refusal is kept here, per primary, in the commit
// ShadowDisowned makes when the primary refuses a heartbeat so, and it
// stands through any outage of the primary and any restart of this
// server: ShadowHeartbeatFailed counts the failure and takes nothing
// over (ErrDisowned). It ends only when the primary lets a session of
// this server in (an XSHADOW reply: ShadowContact, ShadowPresented):
// this server then runs a database of its own there — or when the
// primary pushes a copy here (the commit that stores it: receiptcopy.go),
// which it does only to a shadow server it accepts again (an id
// forgotten there since). The copies wait until then or their expiry,
// where they are taken over as any copy (expireShadowCopy): the same
// refusal meets a renamed server (README, Renaming a server), whose
// copies are the only ones — dropping them lost mail; a clone's copies
// are then delivered a second time, at expiry only. A loss is worse
// than a duplicate.

// ErrDisowned is ShadowHeartbeatFailed's answer for a primary that
// refused this server's database as another server's: the failure is
// counted, nothing is taken over.
var ErrDisowned = errors.New("the primary refused this server's transport database as another server's: its copies are not taken over")

// ShadowDisowned records that primary refused this server's session as
// presenting another server's database id, with its reply.
func (q *Manager) ShadowDisowned(primary, reply string) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if primary == "" {
		return nil
	}
	return q.store.Update(context.Background(), func(tx *Tx) error {
		if tx.tx.Bucket(bucketMessages) == nil {
			return nil // a database opened for a restore check
		}
		b, err := tx.tx.CreateBucketIfNotExists(bucketDisowned)
		if err != nil {
			return err
		}
		if string(b.Get([]byte(primary))) == reply {
			return nil
		}
		return b.Put([]byte(primary), []byte(reply))
	})
}

// ShadowDisownedBy returns the reply with which primary disowned this
// server, "" when it did not (or let a session in since).
func (q *Manager) ShadowDisownedBy(primary string) string {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	out := ""
	_ = q.store.View(func(tx *Tx) error {
		out = tx.disownedBy(primary)
		return nil
	})
	return out
}

// disownedBy is ShadowDisownedBy in a transaction.
func (t *Tx) disownedBy(primary string) string {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	b := t.tx.Bucket(bucketDisowned)
	if b == nil {
		return ""
	}
	return string(b.Get([]byte(primary)))
}

// shadowOwnedAgain ends primary's refusal of this server's database: a
// session of this server was let in there (its XSHADOW reply).
func (q *Manager) shadowOwnedAgain(primary string) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if q.ShadowDisownedBy(primary) == "" {
		return
	}
	err := q.store.Update(context.Background(), func(tx *Tx) error {
		return tx.ownedAgainTx(primary)
	})
	if err != nil {
		q.log.Error("recording that a primary lets this server in again failed", "primary", primary, "err", err)
	}
}

// ownedAgainTx is shadowOwnedAgain in a transaction; the commit that
// stores a copy pushed by primary makes it too (receiptcopy.go).
func (t *Tx) ownedAgainTx(primary string) error {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	if b := t.tx.Bucket(bucketDisowned); b != nil && b.Get([]byte(primary)) != nil {
		return b.Delete([]byte(primary))
	}
	return nil
}

// disownedCopy returns the primary of m, a shadow copy, and the shadow
// ids it names m's recipients by, when every recipient still shadowed
// is held for one primary that disowned this server; "" otherwise.
func disownedCopy(tx *Tx, m *Message) (primary string, sids []string) {
	for _, r := range m.Rcpts {
		if r.Status != Shadowed {
			continue
		}
		if primary != "" && r.Primary != primary {
			return "", nil
		}
		primary = r.Primary
		if r.ShadowID != "" && (len(sids) == 0 || sids[len(sids)-1] != r.ShadowID) {
			sids = append(sids, r.ShadowID)
		}
	}
	if primary == "" || len(sids) == 0 || tx.disownedBy(primary) == "" {
		return "", nil
	}
	return primary, sids
}

// ShadowDisownedUntil returns the reply with which primary disowned this
// server ("" when it did not) and, then, the earliest expiry of the
// copies held here for it: when the first of them is taken over
// (pruneDiscards), the only takeover while the refusal stands. Zero
// when no copy is held for it.
func (q *Manager) ShadowDisownedUntil(primary string) (reply string, expiry time.Time) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	_ = q.store.View(func(tx *Tx) error {
		if reply = tx.disownedBy(primary); reply == "" {
			return nil
		}
		for _, id := range tx.InQueue("shadow:"+primary, 1<<31-1) {
			m, err := tx.Get(id)
			if err != nil || m.State != Shadow {
				continue
			}
			at := m.Arrived.Add(q.policy().MessageExpiration + shadowExpiryGrace)
			if expiry.IsZero() || at.Before(expiry) {
				expiry = at
			}
		}
		return nil
	})
	return reply, expiry
}
