package queue

// ShadowHolderByDigest returns the shadow server whose recorded
// transport database id (bucket holders: ShadowHolderSeen) has the
// digest digest (DatabaseDigest, as a peer advertises it with XSHADOWDB),
// or "" when none has. A relay names a send connector's host by its host
// name; this finds the name under which this server keeps that peer's
// rollback mark (marks.go), so the relay's shadow session can present
// it with this server's database id (package delivery, openShadow).
func (q *Manager) ShadowHolderByDigest(digest string) string {
	if digest == "" {
		return ""
	}
	var name string
	_ = q.store.View(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketHolders)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if name == "" && len(v) > 0 && DatabaseDigest(string(v)) == digest {
				name = string(k)
			}
			return nil
		})
	})
	return name
}

// ShadowHolderMarkFor is the rollback mark to present in a session to
// the shadow server name whose peer advertised digest (XSHADOWDB): the
// counter of the database with that digest — found first among the
// database name is an alias of and the id recorded for name (two
// Gets), by a walk over the recorded ids only when neither is it —
// else name's own counter (marks.go, holderMarkTx). The database's
// counter, not the name's: a name whose alias is not yet undone by
// this very session (its own id met again) presents its own
// database's. One read transaction.
func (q *Manager) ShadowHolderMarkFor(name, digest string) uint64 {
	var n uint64
	_ = q.store.View(func(tx *Tx) error {
		n = tx.holderMarkForTx(name, digest)
		return nil
	})
	return n
}

// holderMarkForTx is ShadowHolderMarkFor in tx (a caller's read
// transaction: markedlisting.go reads it with the discards it lists).
func (t *Tx) holderMarkForTx(name, digest string) uint64 {
	if t.tx.Bucket(bucketHolderMarks) == nil {
		return 0
	}
	db := ""
	if digest != "" {
		for _, id := range []string{t.holderAliasTx(name), string(t.tx.Bucket(bucketHolders).Get(holderKey(name)))} {
			if id != "" && DatabaseDigest(id) == digest {
				db = id
				break
			}
		}
		if db == "" {
			t.tx.Bucket(bucketHolders).ForEach(func(_, v []byte) error {
				if len(v) > 0 && DatabaseDigest(string(v)) == digest {
					db = string(v)
					return errStopWalk
				}
				return nil
			})
		}
	}
	var n uint64
	if db != "" {
		_, n = t.holderDBMarkTx(db)
	} else {
		_, n = t.holderMarkTx(name)
	}
	return n
}
