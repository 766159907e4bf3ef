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
