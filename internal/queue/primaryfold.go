package queue

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Primary names folded one way, on the holder side. A primary whose
// copies this server keeps is one server whatever spelling names it: the
// topology's (a relay's result, Result.Primary), the name it states in
// its sessions (XSHADOW, a copy on receipt, a discard, a heartbeat's
// reply), an operator's queue name — in letter case, with or without a
// final dot, its internationalised labels as U-labels or A-labels. Every
// record, queue and lookup kept per primary here uses serverKey of its
// name (mailaddr.NameKey, as the primary side's holder records do:
// holderfold.go): a recipient's Primary and its shadow queue
// (shadow:NAME, Tx.Put folds both), the peer record and its takeover
// count, the taken-over index, the early takeovers, the primaries'
// database ids and their order, the copies folded into a relay, the
// disowned and digestless marks, the suspension of a shadow queue
// (CanonicalQueueName); every entry point that takes a primary's name
// folds it first. Kept by the spelling met, a relay's copy filed under
// the topology's "Edge.Example" and a copy on receipt under the stated
// "edge.example" were two primaries: the stated name's discard settled
// only the second, the first stayed after its primary finished with it
// and was taken over and delivered again when the primary failed.

// PrimaryKey is the one spelling the queue keeps a primary's records,
// shadow queue and peer record under (serverKey): a caller holding a
// name as another spelt it (the topology, the shadow manager's refusals)
// finds the queue's with it.
func PrimaryKey(name string) string { return serverKey(name) }

// foldQueueName is name with a shadow queue's primary folded
// (serverKey); other names are returned as they are.
func foldQueueName(name string) string {
	if p, ok := strings.CutPrefix(name, "shadow:"); ok && p != "" {
		return "shadow:" + serverKey(p)
	}
	return name
}

// foldRecordPrimaries folds, in place, the primary of each recipient of
// m and the shadow queue it waits in: the one spelling a record is
// written with (Tx.Put, Tx.PutNew).
func foldRecordPrimaries(m *Message) {
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Primary != "" {
			r.Primary = serverKey(r.Primary)
		}
		r.Queue = foldQueueName(r.Queue)
	}
}

// foldResultPrimaries folds, in place, the primary an attempt's results
// name (the topology's spelling of the next hop that took a copy).
func foldResultPrimaries(res []Result) {
	for k := range res {
		if res[k].Primary != "" {
			res[k].Primary = serverKey(res[k].Primary)
		}
		res[k].Queue = foldQueueName(res[k].Queue)
	}
}

// foldPrimaryNames rewrites at open, in Open's one transaction, what a
// release before kept under a primary's name as it was spelt: the
// records the shadow queues and the taken-over index list under a
// spelling that is not serverKey's (read and written back by Put: every
// index follows), and the keys of the buckets kept per primary. Of two
// peer records of one primary, the later contact's, its failures and
// takeover the most of either (a takeover of one spelling's copies is
// the primary's: its copies are made due again at its next contact).
// Folded names fold to themselves: every open after the first reads the
// keys only and writes nothing.
func foldPrimaryNames(btx *bolt.Tx) error {
	tx := wrapTx(btx)
	var ids []ID
	prefix := []byte("shadow:")
	walkQueueIndex(tx.qidx, prefix, prefix, func(name string, id ID, _ State, _ bool) bool {
		if foldQueueName(name) != name {
			ids = append(ids, id)
		}
		return true
	})
	if b := btx.Bucket(bucketTakenBy); b != nil {
		_ = b.ForEach(func(k, _ []byte) error {
			name, rest, ok := bytes.Cut(k, []byte{0})
			if ok && len(rest) == 8 && serverKey(string(name)) != string(name) {
				ids = append(ids, ID(binary.BigEndian.Uint64(rest)))
			}
			return nil
		})
	}
	// A poison or quarantined record is indexed under that queue only
	// (QueuesOf), whatever its recipients' primaries: read once, by the
	// first open of this release, which marks it done in its commit;
	// held records are written folded from then on.
	if meta := btx.Bucket(bucketMeta); meta.Get(keyPrimaryNamesDone) == nil {
		for _, held := range []string{QueuePoison, QueueQuarantine} {
			hp := []byte(held + "\x00")
			walkQueueIndex(tx.qidx, hp, hp, func(_ string, id ID, _ State, _ bool) bool {
				ids = append(ids, id)
				return true
			})
		}
		if err := meta.Put(keyPrimaryNamesDone, []byte{1}); err != nil {
			return err
		}
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		m, err := tx.Get(id)
		if err != nil || m.State == Damaged || !unfoldedPrimary(m) {
			continue
		}
		if err := tx.Put(m); err != nil { // folds (foldRecordPrimaries)
			return err
		}
	}
	if err := foldPeers(btx); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketTakeoverFailures, bucketDisowned, bucketDigestless, bucketFolded, bucketTakenBy, bucketPeerDBOrder} {
		if err := foldKeyed(btx, name, false, nil); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketTaken, bucketPeerDBs} {
		if err := foldKeyedSuffix(btx, name); err != nil {
			return err
		}
	}
	if sus := btx.Bucket(bucketSuspended); sus != nil {
		var marks []string
		c := sus.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if foldQueueName(string(k)) != string(k) {
				marks = append(marks, string(k))
			}
		}
		for _, name := range marks {
			if err := sus.Delete([]byte(name)); err != nil {
				return err
			}
			if err := sus.Put([]byte(foldQueueName(name)), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyPrimaryNamesDone: the held records' primaries were folded
// (foldPrimaryNames).
var keyPrimaryNamesDone = []byte("primary_names_done")

// unfoldedPrimary reports whether a recipient of m names its primary,
// or waits in a shadow queue, under another spelling than serverKey's.
func unfoldedPrimary(m *Message) bool {
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.Primary != serverKey(r.Primary) && r.Primary != "" || foldQueueName(r.Queue) != r.Queue {
			return true
		}
	}
	return false
}

// foldPeers folds the keys of bucket shadowpeers, merging the records of
// one primary (foldPrimaryNames).
func foldPeers(btx *bolt.Tx) error {
	b := btx.Bucket(bucketPeers)
	if b == nil {
		return nil
	}
	var names []string
	_ = b.ForEach(func(k, _ []byte) error {
		if serverKey(string(k)) != string(k) {
			names = append(names, string(k))
		}
		return nil
	})
	for _, name := range names {
		v := bytes.Clone(b.Get([]byte(name)))
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		key := []byte(serverKey(name))
		p, err := decodePeer(string(key), v)
		if err != nil {
			// Kept as it was, under the one name if free: the damaged
			// record is reported as before.
			if b.Get(key) == nil {
				if err := b.Put(key, v); err != nil {
					return err
				}
			}
			continue
		}
		if cv := b.Get(key); cv != nil {
			if cur, err := decodePeer(string(key), cv); err == nil {
				if cur.LastContact.After(p.LastContact) {
					cur, p = p, cur
				}
				p.Failures = max(p.Failures, cur.Failures)
				p.TakenOver = p.TakenOver || cur.TakenOver
			}
		}
		if err := b.Put(key, p.encode()); err != nil {
			return err
		}
	}
	return nil
}

// foldKeyedSuffix folds the keys of bucket name whose server name is
// their part after the last 0 byte (earlytakeover: id ‖ 0 ‖ primary;
// peerdbs: database id ‖ 0 ‖ server). An entry already under the folded
// key stays.
func foldKeyedSuffix(btx *bolt.Tx, name []byte) error {
	b := btx.Bucket(name)
	if b == nil {
		return nil
	}
	type entry struct{ from, to, v []byte }
	var moves []entry
	_ = b.ForEach(func(k, v []byte) error {
		i := bytes.LastIndexByte(k, 0)
		if i < 0 {
			return nil
		}
		if server := string(k[i+1:]); serverKey(server) != server {
			to := append(bytes.Clone(k[:i+1]), serverKey(server)...)
			moves = append(moves, entry{bytes.Clone(k), to, bytes.Clone(v)})
		}
		return nil
	})
	for _, m := range moves {
		if err := b.Delete(m.from); err != nil {
			return err
		}
		if b.Get(m.to) != nil {
			continue
		}
		if err := b.Put(m.to, m.v); err != nil {
			return err
		}
	}
	return nil
}
