package queue

import (
	"encoding/binary"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Damaged spool files found when the queue starts. Open reports the
// files records name that it did not find (MissingSpool); Start then
// checks every queued message's spool file — present, at least the
// length its record names, and, for a file written with its checksum,
// the checksum's 4 bytes after them (a file cut by as little as one
// byte) — and the header section the database holds for it against its
// checksum (bodysum.go), and moves each message waiting for delivery whose
// file is damaged to the poison queue, with the reason, tracked ("poison"
// event) and logged with its id — so `message list --state poison` shows
// it at once, instead of a `ready` message that fails at its first
// attempt. Messages in other states (suspended, quarantined, shadow
// copies, already poison) stay as they are and are named in the log;
// their first attempt after an operator's action finds the file damaged
// and holds them as poison then (loadBody). A dumpster copy whose file is
// damaged is counted here and skipped by redelivery (dumpster package).
//
// What the start does not read: the content of the files (every
// spooled byte; their checksum is read whole by the claim for delivery,
// before any byte goes out: loadBody) and the bodies held whole in the
// database (checked by the same claim). Reading them all would make a
// start take as long as reading the spool directory and the database
// through (BENCHMARKS.md, "Start check of spool files"); the start
// reads a stat per file and a header section per spooled body.

// damagedSpool is the messages and dumpster copies whose spool file is
// missing or shorter than the record names (its checksum included), or
// whose header section does not match its checksum, with the reason.
func (s *Store) damagedSpool() (msgs map[ID]error, dumpster int, err error) {
	if s.spoolDir == "" {
		return nil, 0, nil
	}
	msgs = map[ID]error{}
	err = s.db.View(func(btx *bolt.Tx) error {
		bodies := map[byte]*bolt.Bucket{refMessage: btx.Bucket(bucketBodies), refDumpster: btx.Bucket(bucketDumpBody)}
		return btx.Bucket(bucketSpooled).ForEach(func(k, v []byte) error {
			name, off, n, ok := decodeRef(v)
			if !ok || len(k) < 1 || bodies[k[0]] == nil {
				return nil
			}
			// Its header section held in the database (bounded by
			// spoolMaxHeaderRead), against its checksum (bodysum.go).
			b := SpooledBody(bodyValue(bodies[k[0]], k[1:]), filepath.Join(s.spoolDir, name), off, n)
			b.sum, b.summed, b.sumBad = storedBodySum(btx, k[0], k[1:])
			b.sumMissing = !b.summed && bodySumExpected(btx, k[0], k[1:])
			cerr := b.checkHead()
			if cerr == nil {
				cerr = b.checkSpool()
			}
			if cerr == nil {
				return nil
			}
			switch k[0] {
			case refMessage:
				if len(k) == 9 {
					msgs[ID(binary.BigEndian.Uint64(k[1:]))] = cerr
				}
			case refDumpster:
				dumpster++
			}
			return nil
		})
	})
	return msgs, dumpster, err
}

// holdDamagedSpool moves the messages waiting for delivery whose spool
// file is damaged to the poison queue (see above). Start runs it before
// the scheduler claims anything.
func (q *Manager) holdDamagedSpool() {
	msgs, dumpster, err := q.store.damagedSpool()
	if err != nil {
		q.log.Error("checking spool files at start failed", "err", err)
		return
	}
	if len(msgs) == 0 && dumpster == 0 {
		return
	}
	if len(msgs) == 0 { // no queued message is touched: not an error of delivery
		q.log.Warn("spool files of dumpster copies are missing or shorter than their records: redelivery skips those copies, which go when they expire",
			"dumpster_copies", dumpster)
		return
	}
	var held, left []string
	for id, why := range msgs {
		var m *Message
		if q.store.View(func(tx *Tx) error { var err error; m, err = tx.Get(id); return err }) != nil {
			continue
		}
		if m.State != Ready && m.State != Active {
			left = append(left, id.String()+" ("+m.State.String()+")")
			continue
		}
		q.poisonUnreadable(m, fmt.Sprintf("body unreadable: %v (found at start)", why))
		held = append(held, id.String())
	}
	q.log.Error("spool files of queued messages are missing or shorter than their records (or their header sections changed on disk): messages waiting for delivery moved to the poison queue",
		"held_as_poison", len(held), "held_ids", firstIDs(held), "left_in_their_state", firstIDs(left),
		"dumpster_copies_skipped_by_redelivery", dumpster)
}

// firstIDs is at most ten of ids, for a log line of bounded length.
func firstIDs(ids []string) []string {
	if len(ids) > 10 {
		return append(ids[:10:10], fmt.Sprintf("... %d more", len(ids)-10))
	}
	return ids
}

// Check reports a spooled body whose file is missing, shorter than its
// record or changed since it was written (its checksum, checksum.go;
// nil for a body in memory): for copies that must not be
// resubmitted without their content (dumpster redelivery) and the
// operator's tools.
func (b Body) Check() error { return b.verifySpool() }
