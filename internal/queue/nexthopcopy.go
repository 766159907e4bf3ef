package queue

import (
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A copy on receipt on the next hop (rt18b F4). A server that copies a
// message on receipt and then relays it may pick, for both, the same
// server: the copy on receipt (preference prefer-remote) and the relay
// (the least-cost route) go to the hub of the other site. That hub then
// held two records of one message: the copy on receipt, a shadow copy
// for the sender settled by the sender's discard of its org id, and the
// relayed original, its own to deliver. A failure of the sender before
// that discard reached the hub — a kill -9 right after the relay, a
// sender the hub cannot reach — had the hub take the copy over and
// deliver the message a second time.
//
// So the commit that stores a message relayed here in a shadow session
// (Submit: m.ShadowServer keeps the relay's copy) merges into it the
// copy on receipt this server holds of the same message (org id) for
// that same server: each recipient of the copy that the relayed original
// carries is settled (Relayed: handed on, as a discard would settle it),
// and a copy with nothing left goes. Why no failure order loses a
// message by it: from that commit on, the original is on this server's
// disk, and the sender keeps the relay's copy until this server's
// discard (SR-8), which comes only when the original is done — two disks
// as before, the copy on receipt only redundant. A crash before the
// commit leaves both records unchanged. A relay whose 250 the sender
// never saw is attempted again and merges as any repeated relay
// (carried.go); meanwhile the sender's record still names this server
// as the holder of its copy on receipt: the loss of this disk is seen
// by the sender as a new database id and the copy made again (holders.go),
// and the loss of the sender's leaves the original here. The sender's
// later discard of the org id finds no copy and is kept as an early
// one, as for any discard that comes first.
//
// The relay may also arrive first: the primary hands the message on as
// soon as its own commit is made, while its copy on receipt is still on
// the way. The commit that stores the copy then finds the original the
// same primary relayed here and settles the copy against it
// (mergeIntoRelayedHere), with the same argument.
//
// Not merged: a recipient of the copy already taken over (pending here:
// this server delivers it; merging it with the original is the takeover
// merge's rule, shadowprimary.go), a copy in delivery (one writer), a
// copy for another server than the one that relayed the original (that
// server's record still needs it), and recipients the original does not
// carry (a fan-out relayed them elsewhere).

// mergeReceiptCopy settles, in tx, the copy on receipt of m's message
// held here for m.ShadowServer (the server that relayed m in a shadow
// session), as above. It returns the copies that left.
func (t *Tx) mergeReceiptCopy(m *Message, now time.Time) (gone []*Message, err error) {
	from := m.ShadowServer
	if from == "" || m.ShadowID == "" || m.OrgID == "" || m.ShadowID == m.OrgID {
		return nil, nil
	}
	carried := map[string]bool{}
	for _, r := range m.Rcpts {
		carried[rcptKey(r.Addr)] = true
	}
	for _, o := range t.receiptCopyRecords(from, m.OrgID) { // each decoded once
		if o.ID == m.ID || o.State == Active {
			continue
		}
		before, changed, twins := statusesNow(o), false, newCaseTwins(o.Rcpts)
		for i := range o.Rcpts {
			r := &o.Rcpts[i]
			if r.Status != Shadowed || !sameServer(r.Primary, from) || r.ShadowID != m.OrgID || !carried[rcptKey(r.Addr)] {
				continue
			}
			// A copy this server had handed to from (a recipient taken
			// over from a first primary, takenhanded.go): from's discard
			// of it will settle nothing here any more, so its handed
			// notes go in this commit instead of waiting for the
			// pruning (shadow28 item 4); the first primary gets none, as
			// before (the original here now owes the recipient).
			if err := t.dropHandedOf(r); err != nil {
				return nil, err
			}
			r.Status, changed = Relayed, true
			if err := t.dropFolded(from, m.OrgID, r.Addr, twins.of(r.Addr)); err != nil {
				return nil, err
			}
		}
		if !changed {
			continue
		}
		if err := t.copySettled(o, before, now); err != nil {
			return nil, err
		}
		if o.State != Quarantined && nothingLeft(o) {
			if err := t.Delete(o.ID); err != nil {
				return nil, err
			}
			gone = append(gone, o)
		} else if err := t.Put(o); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// mergeIntoRelayedHere settles, in tx, a copy on receipt c just stored
// for primary against an original of the same message that primary
// relayed here earlier in a shadow session (the relay overtook the
// copy). It returns the copies that left.
func (t *Tx) mergeIntoRelayedHere(c *Message, primary string, now time.Time) ([]*Message, error) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	var gone []*Message
	for _, id := range t.ByOrgID(c.OrgID) {
		if id == c.ID {
			continue
		}
		o, err := t.Get(id)
		if err != nil || !sameServer(o.ShadowServer, primary) || o.State == Shadow {
			continue
		}
		g, err := t.mergeReceiptCopy(o, now)
		if err != nil {
			return nil, err
		}
		gone = append(gone, g...)
	}
	// The original may be finished here already (delivered, relayed
	// on, failed with its DSN) when the copy comes: the relay overtook
	// a copy that waited for its batch. Its recipients are named in
	// bucket finished with the relaying server and the relay's copy id
	// (finished.go); they settle the copy as the queued original would
	// have. Without it the copy stayed until the primary's
	// discard, and a kill -9 of the primary before that had this server
	// take it over and deliver the message a second time.
	for _, pm := range t.finishedRelaysOf(c, primary) {
		g, err := t.mergeReceiptCopy(pm, now)
		if err != nil {
			return nil, err
		}
		gone = append(gone, g...)
	}
	return gone, nil
}

// finishedRelaysOf returns, for the copy on receipt c held for primary,
// one stand-in per relay of its message by primary that this server
// finished (bucket finished, finished.go): the org id, the relaying
// server and its copy id as the original had them, and the recipients
// of c finished under it — what mergeReceiptCopy reads of an original.
// Only entries of this release (flag finishedExact) are read: an
// earlier release's, keyed by the folded address, leaves the copy as it
// was (a duplicate at worst).
func (t *Tx) finishedRelaysOf(c *Message, primary string) []*Message {
	b := t.tx.Bucket(bucketFinished)
	if b == nil || c.OrgID == "" {
		return nil
	}
	byID := map[string]*Message{}
	var out []*Message
	for _, r := range c.Rcpts {
		v := b.Get(finishedKey(c.OrgID, r.Addr))
		if len(v) < 9 || v[8]&finishedExact == 0 {
			continue
		}
		server, id, _ := strings.Cut(string(v[9:]), "\x00")
		if id == "" || id == c.OrgID || !sameServer(server, primary) {
			continue
		}
		pm := byID[id]
		if pm == nil {
			pm = &Message{OrgID: c.OrgID, ShadowServer: server, ShadowID: id}
			byID[id] = pm
			out = append(out, pm)
		}
		pm.Rcpts = append(pm.Rcpts, Recipient{Addr: r.Addr})
	}
	return out
}

// keyReceiptPairsMerged marks, in bucket meta, a database whose copies
// on receipt were merged once at open (mergeReceiptPairsAtOpen).
var keyReceiptPairsMerged = []byte("receipt_pairs_merged")

// mergeReceiptPairsAtOpen settles, once per database in Open's one
// transaction, the copies on receipt an earlier release kept beside the
// original their primary relayed here: it compared the
// primary's names exactly, so a primary named in mixed case
// (hubA.test) left both records, and the copy was taken over and
// delivered again if the primary died before its discard. Each copy on
// receipt (a shadow queue's record whose recipient is shadowed under
// the org id) is merged as the commit storing it now merges it
// (mergeIntoRelayedHere). A crash midway leaves the database as it was:
// the mark is in the same transaction.
func mergeReceiptPairsAtOpen(btx *bolt.Tx) error {
	meta := btx.Bucket(bucketMeta)
	if meta == nil || meta.Get(keyReceiptPairsMerged) != nil {
		return nil
	}
	tx := wrapTx(btx)
	var ids []ID
	prefix := []byte("shadow:")
	walkQueueIndex(tx.qidx, prefix, prefix, func(_ string, id ID, _ State, _ bool) bool {
		ids = append(ids, id)
		return true
	})
	now := time.Now()
	seen := map[ID]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		c, err := tx.Get(id)
		if err != nil || c.State != Shadow || c.OrgID == "" {
			continue
		}
		primaries := map[string]bool{}
		for _, r := range c.Rcpts {
			if r.Status == Shadowed && r.Primary != "" && r.ShadowID == c.OrgID {
				primaries[r.Primary] = true
			}
		}
		for p := range primaries {
			if _, err := tx.mergeIntoRelayedHere(c, p, now); err != nil {
				return err
			}
		}
	}
	return meta.Put(keyReceiptPairsMerged, []byte{1})
}
