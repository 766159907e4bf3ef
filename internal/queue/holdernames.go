package queue

import (
	"bytes"
	"slices"
)

// Notifications owed to a server met under another name (rt21a H1). A
// primary files what it owes a shadow server — discard notifications,
// partial ones, messages given back (handback) — under the name its
// topology gave the holder when the copy was made (Message.ShadowServer).
// A typo in that name, on the primary only, files them under a name the
// holder never asks as: the holder dropped nothing, and a later takeover
// (a stall of the primary past timeout × retries) delivered the messages
// a second time, or failed them with false DSNs once expired — even after
// the typo was put right.
//
// The copies are where the push's XSHADOW reply said: in the transport
// database it presented. A name met with the recorded database id of
// another holder is kept as an alias of that database (ShadowHolderSeen,
// marks.go), committed with the push that met it. So a holder asking as
// server, whose recorded database id is D, is owed what is filed under
// server and under every name that is an alias of D: the server that
// holds the copies gets their notifications, whatever name the
// primary's topology gives it now. A name with an alias of its own (it
// dials another's database) is owed only what is filed under it.

// holderAliasesTx returns the names (in lower case) that are aliases of
// server's recorded database id, in tx; nil when none, when no id is
// recorded for server, or when server's name is itself an alias (it
// dials another's database).
func (t *Tx) holderAliasesTx(server string) map[string]bool {
	hb := t.tx.Bucket(bucketHolders)
	if hb == nil || t.holderAliasTx(server) != "" {
		return nil
	}
	return t.aliasesOfDBTx(hb.Get(holderKey(server)), server)
}

// aliasesOfDBTx returns the names (in lower case) other than self that
// are aliases of the database id db, in tx; nil when none.
func (t *Tx) aliasesOfDBTx(db []byte, self string) map[string]bool {
	marks := t.tx.Bucket(bucketHolderMarks)
	if marks == nil || len(db) == 0 {
		return nil
	}
	own := string(holderKey(self))
	var aliases map[string]bool
	c := marks.Cursor()
	for k, v := c.Seek([]byte{1}); k != nil && k[0] == 1; k, v = c.Next() {
		if bytes.Equal(v, db) && string(k[1:]) != own {
			if aliases == nil {
				aliases = map[string]bool{}
			}
			aliases[string(k[1:])] = true
		}
	}
	return aliases
}

// holdsCopyOnAny is holdsCopyOn of server or of a name that is an alias
// of its database (aliases, holderAliasesTx): the probe of server asks
// about, and a new database of server loses, the copies pushed under
// those names too.
func holdsCopyOnAny(m *Message, server string, aliases map[string]bool) bool {
	return holdsCopyOn(m, server) || needsCopy(m) && aliases[serverKey(m.ShadowServer)]
}

// holderOfAliasTx names the holder whose recorded database id name is an
// alias of ("" when none), in tx.
func (t *Tx) holderOfAliasTx(name string) string {
	db := t.holderAliasTx(name)
	if db == "" {
		return ""
	}
	return t.holderOfDB(name, db)
}

// holderNamesTx returns the names notifications owed to the shadow
// server server are filed under, server first, in tx: the spellings
// found in buckets discards, partial and handback of the names that are
// aliases of server's recorded database id.
func (t *Tx) holderNamesTx(server string) []string {
	names := []string{server}
	aliases := t.holderAliasesTx(server)
	if len(aliases) == 0 {
		return names
	}
	seen := map[string]bool{server: true}
	for _, name := range [][]byte{bucketDiscards, bucketPartial, bucketHandBack} {
		b := t.tx.Bucket(name)
		if b == nil {
			continue
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; {
			s, _, ok := bytes.Cut(k, []byte{0})
			if !ok {
				k, _ = c.Next()
				continue
			}
			if n := string(s); !seen[n] && aliases[serverKey(n)] {
				seen[n] = true
				names = append(names, n)
			}
			k, _ = c.Seek(append(bytes.Clone(s), 1)) // past this name's keys
		}
	}
	return names
}

// holderNamesAllTx is holderNamesTx with every alias of server's
// database (in lower case) whether or not anything is filed under it:
// the names a record here may give the server that holds its copy.
func (t *Tx) holderNamesAllTx(server string) []string {
	names := t.holderNamesTx(server)
	for a := range t.holderAliasesTx(server) {
		if !slices.Contains(names, a) {
			names = append(names, a)
		}
	}
	return names
}

// warnUnclaimedOwed logs at WARN, once per name while it lasts, each
// name discard notifications (full or partial) are owed to that no
// server of the topology asks as: not a server of the topology, and not
// an alias of the database of one (a name the topology gave a holder
// once, now gone from it: a typo put right, or the holder's
// notifications pass to it, above). Such notifications wait for no one:
// the copies they concern stay on their holder until its XQUERYHELD
// (after an hour) or their expiry. Called by the run loop once a minute
// and at each SetServers; a name claimed again is warned of again
// should it lose its claim.
func (q *Manager) warnUnclaimedOwed() {
	d := q.servers.Load()
	if d == nil {
		return
	}
	names, err := q.OwedDiscardServers()
	if err != nil || len(names) == 0 {
		return
	}
	known := func(n string) bool { k, _ := (*d).ServerAtHostPort(n, ""); return k }
	type owed struct {
		name, holder string
		count        int
	}
	var out []owed
	_ = q.store.View(func(tx *Tx) error {
		for _, n := range names {
			if known(n) {
				q.unclaimed.Delete(serverKey(n))
				continue
			}
			h := tx.holderOfAliasTx(n)
			if h != "" && known(h) {
				q.unclaimed.Delete(serverKey(n))
				continue
			}
			out = append(out, owed{n, h, len(tx.Discards(n, 1000)) + len(tx.PartialDiscards(n, 1000))})
		}
		return nil
	})
	for _, o := range out {
		if _, seen := q.unclaimed.LoadOrStore(serverKey(o.name), struct{}{}); seen {
			continue
		}
		q.log.Warn("discard notifications owed to a name no server of the topology asks as: the copies they concern stay on their holder until its question about old copies (XQUERYHELD) or their expiry",
			"shadow_server", o.name, "notifications", o.count, "database_of", o.holder)
	}
}

// sameHolderTx reports whether the names a and b, given to the holder of
// a copy by two records, name one holder, in tx: the same name, or names
// met with the same transport database (recorded for one, an alias of
// it for the other: a typo in the topology). One copy under both names
// is needed while either record needs it (siblingcopy.go).
func (t *Tx) sameHolderTx(a, b string) bool {
	if a == b {
		return true
	}
	if a == "" || b == "" {
		return false
	}
	if sameServer(a, b) {
		return true
	}
	da, db := t.holderDBTx(a), t.holderDBTx(b)
	return da != "" && da == db
}

// holderDBTx is the transport database id name was met with as a
// holder: its alias's, else the one recorded for it ("" when none).
func (t *Tx) holderDBTx(name string) string {
	if id := t.holderAliasTx(name); id != "" {
		return id
	}
	if hb := t.tx.Bucket(bucketHolders); hb != nil {
		return string(hb.Get(holderKey(name)))
	}
	return ""
}
