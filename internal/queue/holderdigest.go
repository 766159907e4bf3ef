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
// counter of the database with that digest — found first by the id
// recorded for name (or the database name is an alias of: one Get), by
// a walk over the recorded ids only when that is not it — else name's
// own counter (marks.go). One read transaction.
func (q *Manager) ShadowHolderMarkFor(name, digest string) uint64 {
	var n uint64
	_ = q.store.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketHolderMarks) == nil {
			return nil
		}
		if digest != "" {
			own := string(tx.tx.Bucket(bucketHolders).Get(holderKey(name)))
			if own == "" {
				own = tx.holderAliasTx(name)
			}
			if own == "" || DatabaseDigest(own) != digest {
				tx.tx.Bucket(bucketHolders).ForEach(func(k, v []byte) error {
					if len(v) > 0 && DatabaseDigest(string(v)) == digest {
						name = string(k)
						return errStopWalk
					}
					return nil
				})
			}
		}
		_, n = tx.holderMarkTx(name)
		return nil
	})
	return n
}
