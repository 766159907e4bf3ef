package queue

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Recipients a failure DSN reports, for the copy elsewhere (holdfail23;
// doc.go, "Partial discards").
//
// A results commit that fails some recipients of a record with a copy
// elsewhere, while others stay pending, makes their failure DSN and
// leaves them out of the partial discard it writes: that DSN is on this
// disk and, until it leaves, the copy covers the failure (a kill -9 for
// good here, and the shadow server's takeover fails them again and
// reports it). They used to stay in the copy until the full discard, so
// a takeover after the DSN had left tried them again and sent the
// sender a second failure DSN (or delivered, where the failure had been
// a transient destination's, a message the sender was told had failed).
//
// Now that commit also records, in bucket dsnreported under the DSN's
// id, the copy and the addresses the DSN reports:
//
//	dsnreported DSN id (8, BE) → original id (8, BE) ‖ org id ‖ 0x00 ‖ { server ‖ 0x00 ‖ copy id ‖ 0x00 ‖ address ‖ 0x00 }…
//
// and the commit that sees the DSN leave — delivered, relayed, or handed
// on in a shadow session: the sender's side has it — writes their
// partial discard (AddPartialDiscard) and deletes the entry: the same
// commit, so a crash leaves the DSN here and the copy whole, or the DSN
// gone and the partial discard owed. A DSN made again with the headers
// only under a new id (refitDSN) takes the entry over in the commit
// that makes it (moveReported): it reports what the first reported. It is not written when the original
// is gone by then (its end wrote the full discard, which settles all)
// or when another record under the copy id has the address pending
// (pendingUnderCopy, as at any partial discard). A DSN that does not
// leave — it failed (the null sender is told nothing), expired, or an
// operator removed it — has its entry dropped with its record
// (Tx.Delete): the copy keeps covering those recipients, as before. The
// wire is the partial discard of version 9: a shadow server of that
// version or later marks them done as it marks any recipient the
// primary finished.
//
// A failure DSN marked held here only is copied to a holder of its own
// (enteredsingle.go); the commit that names that holder releases the
// DSN's entry as its leaving does (dsnheld.go): the DSN is on two disks
// from then on, and the original's copy no longer covers the recipients
// it reports.

// noteReported records that the DSN dsn reports the recipients addrs of
// the copy id kept by server of the record orig (org id orgID).
func (t *Tx) noteReported(dsn, orig ID, orgID, server, id string, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketDSNReported) // made by the first note (schema.go)
	if err != nil {
		return err
	}
	v := bytes.Clone(b.Get(dsn.Key()))
	if len(v) < 8 {
		v = append(orig.Key(), orgID...)
		v = append(v, 0)
	}
	for _, a := range addrs {
		v = append(append(append(append(append(append(v, server...), 0), id...), 0), a...), 0)
	}
	if err := b.Put(dsn.Key(), v); err != nil {
		return err
	}
	return t.indexReported(ID(binary.BigEndian.Uint64(v[:8])), dsn)
}

// reportedByKey is the key of the DSN dsn under the original orig in
// dsnreportedby (schema.go).
func reportedByKey(orig, dsn ID) []byte {
	return append(orig.Key(), dsn.Key()...)
}

// indexReported writes the index entry of the DSN dsn reporting on
// orig, in the transaction that writes its dsnreported entry.
func (t *Tx) indexReported(orig, dsn ID) error {
	ix, err := t.tx.CreateBucketIfNotExists(bucketDSNReportedBy) // made with the first entry, as dsnreported
	if err != nil {
		return err
	}
	return ix.Put(reportedByKey(orig, dsn), []byte{})
}

// unindexReported drops the index entry of the DSN dsn whose
// dsnreported value is v, in the transaction that removes that value.
func (t *Tx) unindexReported(dsn ID, v []byte) error {
	ix := t.tx.Bucket(bucketDSNReportedBy)
	if ix == nil || len(v) < 8 {
		return nil
	}
	return ix.Delete(reportedByKey(ID(binary.BigEndian.Uint64(v[:8])), dsn))
}

// reportedDSNsOf returns the DSNs whose dsnreported entry names the
// original orig, in id order: one seek in dsnreportedby and a step per
// such DSN (earlyDSNCarries at every end of a message with a copy
// elsewhere; a walk over dsnreported held each such commit for 18 ms
// with 200,000 entries). reportedSteps counts the index and bucket
// entries read, for the tests.
func (t *Tx) reportedDSNsOf(orig ID) []ID {
	ix := t.tx.Bucket(bucketDSNReportedBy)
	if ix == nil {
		return nil
	}
	var out []ID
	pre := orig.Key()
	c := ix.Cursor()
	for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		reportedSteps.Add(1)
		if len(k) == 16 {
			out = append(out, ID(binary.BigEndian.Uint64(k[8:])))
		}
	}
	return out
}

// reportedSteps counts the entries of dsnreported and its index read
// by earlyDSNCarries (reportedDSNsOf), for the tests: the cost of a
// message's end, counted rather than timed.
var reportedSteps atomic.Int64

// repairReportedIndex makes dsnreportedby agree with dsnreported, at
// Open: a release without the index (an upgrade, or a rollback and
// forward again) wrote entries it does not name, and an entry it
// removed left the index naming it. One ordered walk over each bucket:
// the index is rebuilt beside the entries, adding what is missing and
// deleting what names no entry (or another original).
func repairReportedIndex(tx *bolt.Tx) error {
	b := tx.Bucket(bucketDSNReported)
	ix := tx.Bucket(bucketDSNReportedBy)
	if b == nil {
		if ix != nil {
			return tx.DeleteBucket(bucketDSNReportedBy)
		}
		return nil
	}
	var want [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		if len(k) == 8 && len(v) >= 8 {
			want = append(want, reportedByKey(ID(binary.BigEndian.Uint64(v[:8])), ID(binary.BigEndian.Uint64(k))))
		}
		return nil
	}); err != nil {
		return err
	}
	if ix == nil {
		if len(want) == 0 {
			return nil
		}
		var err error
		if ix, err = tx.CreateBucket(bucketDSNReportedBy); err != nil {
			return err
		}
	}
	slices.SortFunc(want, bytes.Compare)
	var missing, extra [][]byte
	c := ix.Cursor()
	k, _ := c.First()
	for i := 0; i < len(want) || k != nil; {
		switch {
		case k == nil || i < len(want) && bytes.Compare(want[i], k) < 0:
			missing = append(missing, want[i])
			i++
		case i == len(want) || bytes.Compare(want[i], k) > 0:
			extra = append(extra, bytes.Clone(k))
			k, _ = c.Next()
		default: // agrees
			i++
			k, _ = c.Next()
		}
	}
	for _, k := range extra {
		if err := ix.Delete(k); err != nil {
			return err
		}
	}
	for _, k := range missing {
		if err := ix.Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// reportedEntry is one copy's recipients a DSN reports.
type reportedEntry struct {
	server, id string
	addrs      []string
}

// reportedOf reads the entry of the DSN dsn: the original's id and the
// copies' recipients, in the order written.
func (t *Tx) reportedOf(dsn ID) (orig ID, orgID string, out []reportedEntry, ok bool) {
	b := t.tx.Bucket(bucketDSNReported)
	if b == nil {
		return 0, "", nil, false
	}
	v := b.Get(dsn.Key())
	if len(v) < 8 {
		return 0, "", nil, false
	}
	orig = ID(binary.BigEndian.Uint64(v[:8]))
	org, rest, _ := bytes.Cut(v[8:], []byte{0})
	orgID = string(org)
	f := bytes.Split(rest, []byte{0})
	for i := 0; i+2 < len(f); i += 3 {
		server, id, addr := string(f[i]), string(f[i+1]), string(f[i+2])
		if n := len(out); n > 0 && out[n-1].server == server && out[n-1].id == id {
			out[n-1].addrs = append(out[n-1].addrs, addr)
			continue
		}
		out = append(out, reportedEntry{server, id, []string{addr}})
	}
	return orig, orgID, out, true
}

// dropReported forgets the entry of the DSN id (its record goes).
func (t *Tx) dropReported(id ID) error {
	if b := t.tx.Bucket(bucketDSNReported); b != nil {
		if err := t.unindexReported(id, b.Get(id.Key())); err != nil {
			return err
		}
		return b.Delete(id.Key())
	}
	return nil
}

// moveReported moves the entry of the DSN from to the DSN to, made
// again in its place under a new id (refitDSN, dsnrefit.go), in the
// commit that makes it: the recipients the first reported are owed
// their partial discard when the one made again leaves (reread23 F3:
// dropped with the first, nothing settled the copy's recipients, and a
// takeover sent a second failure DSN).
func (t *Tx) moveReported(from, to ID) error {
	b := t.tx.Bucket(bucketDSNReported)
	if b == nil {
		return nil
	}
	v := b.Get(from.Key())
	if v == nil {
		return nil
	}
	v = bytes.Clone(v)
	if err := t.unindexReported(from, v); err != nil {
		return err
	}
	if err := b.Delete(from.Key()); err != nil {
		return err
	}
	if err := b.Put(to.Key(), v); err != nil {
		return err
	}
	if len(v) < 8 {
		return nil
	}
	return t.indexReported(ID(binary.BigEndian.Uint64(v[:8])), to)
}

// settleReported is called by the commit that makes the DSN dsn done:
// when it left (a recipient delivered, relayed or shadowed), the
// recipients it reports are owed their partial discard, written here;
// the entry goes either way. It returns the servers owed one.
func (t *Tx) settleReported(dsn *Message, now time.Time) ([]string, error) {
	left := false
	for _, r := range dsn.Rcpts {
		if r.Status == Delivered || r.Status == Relayed || r.Status == Shadowed {
			left = true
		}
	}
	if !left {
		return nil, t.dropReported(dsn.ID)
	}
	return t.releaseReported(dsn.ID, now)
}

// releaseReported writes, in tx, the partial discard of the recipients
// the DSN dsn reports (those no record here needs otherwise) and drops
// its entry: the DSN left (settleReported), or is held on a second
// server (dsnheld.go). It returns the servers owed one.
func (t *Tx) releaseReported(dsn ID, now time.Time) ([]string, error) {
	orig, orgID, entries, ok := t.reportedOf(dsn)
	if !ok {
		return nil, nil
	}
	if err := t.dropReported(dsn); err != nil {
		return nil, err
	}
	om, err := t.Get(orig)
	if err != nil {
		om = nil // gone: its end wrote the copy's full discard, unless a sibling needs the copy
	}
	var servers []string
	for _, e := range entries {
		needs, err := t.pendingUnderCopy(orig, orgID, e.server, e.id)
		if err != nil {
			return nil, err
		}
		if len(needs) == 0 && (om == nil || len(om.Pending()) == 0) {
			continue // no record here needs the copy: its full discard is written, which settles all
		}
		var addrs []string
		var reported map[string]bool // the other DSNs here, read for a group
		for _, a := range e.addrs {
			if needs.needs(a) || om != nil && om.pendingAddr(a) {
				continue
			}
			// A group is named by the last to settle it: its last
			// member's commit, or the last DSN reporting one of them
			// (groupReported).
			var members []string
			if om != nil {
				members = groupMembersOf(om, a)
			}
			if members != nil || om == nil {
				if reported == nil {
					reported = t.reportedHere(orig, e.server, e.id)
				}
				if reported[a] || members != nil && (groupReported(om, a, reported) || slices.ContainsFunc(members, om.pendingAddr)) {
					continue
				}
			}
			addrs = append(addrs, a)
		}
		if len(addrs) == 0 {
			continue
		}
		if err := t.AddPartialDiscard(e.server, e.id, addrs, now); err != nil {
			return nil, err
		}
		servers = append(servers, e.server)
	}
	return servers, nil
}

// pendingAddr reports whether a recipient of m with the address addr is
// pending.
func (m *Message) pendingAddr(addr string) bool {
	for _, r := range m.Rcpts {
		if r.Addr == addr && r.Status == Pending {
			return true
		}
	}
	return false
}

// noteReportedFor is the results commit's part: of m's recipients this
// commit finished that its failure DSN (dsns[failDSN]) reports (inDSN),
// those the copy id kept by server no longer needs otherwise
// (finishedForCopy's rules) are noted for that DSN. Nothing when no
// failure DSN was made, or when it carries the copy's full discard.
func (t *Tx) noteReportedFor(m *Message, server, id string, before []RcptStatus, outcome map[int]Outcome, inDSN map[int]bool, dsns []*Message, failDSN int, carries bool) error {
	if failDSN < 0 || failDSN >= len(dsns) || carries || len(inDSN) == 0 {
		return nil
	}
	others := map[int]bool{} // every recipient but those the DSN reports
	for i := range m.Rcpts {
		if !inDSN[i] {
			others[i] = true
		}
	}
	addrs, err := t.finishedForCopy(m, before, outcome, others)
	if err != nil {
		return err
	}
	// The group a reported member belongs to (the copy holds the group,
	// not its members) is named with them: the DSN's departure settles
	// it once no member is pending and no other DSN here reports one
	// (releaseReported). Left out, nothing but the full discard would
	// name it, and a takeover before then delivered the group again.
	for i := range m.Rcpts {
		if !inDSN[i] || i >= len(before) || before[i] != Pending || m.Rcpts[i].Status == Pending {
			continue
		}
		if g := groupOf(m, i); g != "" && !slices.Contains(addrs, g) {
			addrs = append(addrs, g)
		}
	}
	return t.noteReported(dsns[failDSN].ID, m.ID, m.OrgID, server, id, addrs)
}

// reportedHere returns the addresses the failure DSNs still here report
// of the copy id kept by server of the original orig (their dsnreported
// entries): a group among them, or one of its members, is not named by a
// partial discard before the last of those DSNs has left
// (groupReported).
func (t *Tx) reportedHere(orig ID, server, id string) map[string]bool {
	out := map[string]bool{}
	for _, d := range t.reportedDSNsOf(orig) {
		_, _, entries, ok := t.reportedOf(d)
		if !ok {
			continue
		}
		for _, e := range entries {
			if e.id != id || !sameServer(e.server, server) {
				continue
			}
			for _, a := range e.addrs {
				out[a] = true
			}
		}
	}
	return out
}
