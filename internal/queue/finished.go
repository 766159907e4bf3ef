package queue

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"

	"umbra/internal/mailaddr"
)

// Recipients finished here of messages with a copy elsewhere (rt16a F1).
//
// A message this server owned whose shadow copy another server keeps
// (it came in a shadow session, or its copy on receipt was pushed) can
// come back after this server finished it: the shadow server took the
// copy over while this server was down and, never told of the end (a
// takeover no give-back reaches: another database presented meanwhile,
// an operator's takeover, an expired copy, a shadow server of an older
// release), relays it here again — under the copy's own id, or, taken
// over in turn by a third server, with the org id alone. The queued
// original would take it (mergeHeld); a finished one is gone, and the
// copy would be stored as a new message and delivered a second time.
//
// So the commit that finishes a recipient of such a message — delivered,
// relayed, failed, or handed to another primary in a shadow session —
// records it in bucket finished (org id ‖ 0x00 ‖ address key → finished
// at (8, BE) ‖ flags ‖ lower-cased shadow server ‖ 0x00 ‖ shadow id),
// with an entry in finishedat (at ‖ org id ‖ 0x00 ‖ address key) for the
// pruning. The address key is rcptKey (rcptmatch.go): the local part as
// written, since "Joe@relayed.example" and "joe@relayed.example" are two
// mailboxes (RFC 5321 §2.4) and one finished must not drop the other
// (flag finishedExact). An entry an earlier release wrote is keyed by
// the folded address (mailaddr.AddrKey) and has no such flag; it is not
// migrated — the spelling it was written for is gone — but read under
// the folded key for a recipient that is the new message's only
// spelling of it, and for none of two that differ in case (a duplicate
// at worst, never a loss); it goes with the pruning. Submit drops, in
// the commit that would queue it, every
// recipient of a new message that the record names as done here (a
// suppressed duplicate: event duplicate-suppressed, counted, and logged):
//   - the same copy coming back (the sender is the record's shadow
//     server and names its copy by the record's shadow id): every
//     recipient done here;
//   - the org id alone (another server's copy of the message): a
//     recipient done for good here — delivered, relayed out of the
//     organisation, failed with its DSN — but not one handed to another
//     transport server, in a shadow session or by a relay not known to
//     leave the organisation (flag handedOn): a route that
//     sends mail back through this server must not lose it (a loop ends
//     at max_hop_count, as before).
// A message left with no recipient is not stored; its sender's copy is
// owed its discard, written in that commit (as for a message merged
// whole). One with recipients left is stored with them, and the sender's
// copy gets a partial discard for those dropped.
//
// Bound: an entry lives message_expiration plus shadowExpiryGrace after
// the finish (pruned hourly with the discards, a batch per transaction:
// retention.go). A copy elsewhere is taken over at the latest when it
// expires, message_expiration after its arrival there, which precedes
// the finish here, and a taken-over copy is tried until it expires in
// turn; a copy made again later (a takeover's copy pushed to a third
// server after this server finished) can outlive the entry: that one is
// delivered twice (README, "Duplicates after a takeover").
// Crash: the entry is in the commit that finishes the recipient, the
// drop in the commit that would have queued the copy: a crash leaves
// either the recipient pending (the copy merges into it) or finished and
// recorded.

const (
	finishedHandedOn = 1 // the recipient went to another transport server in a shadow session
	finishedExact    = 2 // keyed by rcptKey; without it, an earlier release's entry keyed by the folded address
	// finishedCarrier: the record was a failure DSN carrying the discard
	// of another message's copy (carriesOthersCopy): the shadow id names
	// that copy, whose recipients are not the DSN's (HandedHereBy,
	// restoredhanded.go, lists none of its entries).
	finishedCarrier = 4
)

func finishedKey(orgID, addr string) []byte {
	return append(append([]byte(orgID), 0), rcptKey(addr)...)
}

// finishedKeyEarlier is the key an earlier release filed addr under.
func finishedKeyEarlier(orgID, addr string) []byte {
	return append(append([]byte(orgID), 0), mailaddr.AddrKey(addr)...)
}

// noteFinished records, in the commit of an attempt's results, the
// recipients of m that it finished (pending in before, done now; not a
// copy given back to its primary, which is not this server's to finish)
// when m has a copy elsewhere that could come back.
//
// A recipient relayed to a next hop that may be a transport server of
// the organisation (not known to leave it: dest, leftOrg) is handed on,
// not finished here, as one taken in a shadow session is: a route back
// through this server (two topologies that disagree) returns it, and
// taking that copy for done dropped the recipient undelivered (loop49
// F1). Only what this server finished itself — a final delivery, a
// failure with its DSN, a relay out of the organisation, a group
// expanded here — is done for good.
func (t *Tx) noteFinished(m *Message, before []RcptStatus, outcome map[int]Outcome, dest map[int]relayDest, now time.Time) error {
	b, at := t.tx.Bucket(bucketFinished), t.tx.Bucket(bucketFinishedAt)
	if b == nil || at == nil || m.OrgID == "" || m.ShadowServer == "" || m.ShadowID == "" {
		return nil
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(nanos(now)))
	for i, r := range m.Rcpts {
		if i >= len(before) || before[i] != Pending || !r.Status.Done() || outcome[i] == GivenBack {
			continue
		}
		flags := byte(finishedExact)
		if r.Status == Shadowed || r.Status == Relayed && outcome[i] == RelayedOK && !dest[i].left {
			flags |= finishedHandedOn
		}
		if carriesOthersCopy(m) {
			flags |= finishedCarrier
		}
		k := finishedKey(m.OrgID, r.Addr)
		v := append(append(append(append(ts[:8:8], flags), serverKey(m.ShadowServer)...), 0), m.ShadowID...)
		if old := b.Get(k); len(old) >= 8 {
			if err := at.Delete(append(bytes.Clone(old[:8]), k...)); err != nil {
				return err
			}
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		if err := at.Put(append(ts[:8:8], k...), nil); err != nil {
			return err
		}
	}
	return nil
}

// finishedDone reports whether r of the new message m is a recipient
// this server finished (noteFinished) that m must not have delivered
// again: any when m is the same copy coming back, one done for good when
// m has only the org id in common. twins tells the addresses of m that
// share their folded key (mailaddr.AddrKey) with another recipient of
// different local part: an earlier release's entry, keyed folded, names
// neither.
func (t *Tx) finishedDone(m *Message, r Recipient, twins *caseTwins) bool {
	v := t.finishedEntry(m, r, twins)
	if len(v) < 9 {
		return false
	}
	server, id, _ := strings.Cut(string(v[9:]), "\x00")
	if m.ShadowServer != "" && m.ShadowID != "" && sameServer(server, m.ShadowServer) && id == m.ShadowID {
		return true
	}
	return v[8]&finishedHandedOn == 0
}

// finishedHere is finishedDone without its hand-on cases: r finished
// here itself (delivered, failed), never handed on to another transport
// server in a shadow session. A takeover's settling by this server's own
// original reads it (twinoriginal.go): a record that relayed r to the
// very primary now taken over has r's finished entry marked handed on,
// and taking that for done left the message delivered by nobody.
func (t *Tx) finishedHere(m *Message, r Recipient, twins *caseTwins) bool {
	v := t.finishedEntry(m, r, twins)
	return len(v) >= 9 && v[8]&finishedHandedOn == 0
}

// finishedEntry is r's entry in the finished index under m's org id, as
// finishedDone reads it (an earlier release's entry under the folded
// address where no exact one is), or nil.
func (t *Tx) finishedEntry(m *Message, r Recipient, twins *caseTwins) []byte {
	b := t.tx.Bucket(bucketFinished)
	if b == nil || m.OrgID == "" {
		return nil
	}
	k := finishedKey(m.OrgID, r.Addr)
	v := b.Get(k)
	if len(v) < 9 || v[8]&finishedExact == 0 {
		old := v // under the same key: an earlier release's entry, if any
		if ek := finishedKeyEarlier(m.OrgID, r.Addr); !bytes.Equal(ek, k) {
			old = b.Get(ek)
		}
		v = nil
		if len(old) >= 9 && old[8]&finishedExact == 0 && !twins.of(r.Addr) {
			v = old
		}
	}
	return v
}

// dropFinished splits m's recipients into those to keep and those this
// server finished already (finishedDone).
func (t *Tx) dropFinished(m *Message) (keep, done []Recipient) {
	if m.OrgID == "" || t.tx.Bucket(bucketFinished) == nil {
		return m.Rcpts, nil
	}
	twins := newCaseTwins(m.Rcpts)
	for _, r := range m.Rcpts {
		if t.finishedDone(m, r, twins) {
			done = append(done, r)
		} else {
			keep = append(keep, r)
		}
	}
	if len(done) == 0 {
		return m.Rcpts, nil
	}
	return keep, done
}

// caseTwins tells, of the recipients of one record, those that share
// their folded key (mailaddr.AddrKey) with another of different key by
// rcptKey ("Joe@x" and "joe@x": rcptMatch's twice). Built on the first
// question: the earlier releases' entries it is asked for are rare.
type caseTwins struct {
	rcpts []Recipient
	match *rcptMatch[struct{}]
}

func newCaseTwins(rcpts []Recipient) *caseTwins { return &caseTwins{rcpts: rcpts} }

// of reports whether addr has a twin among the record's recipients.
func (c *caseTwins) of(addr string) bool {
	if len(c.rcpts) < 2 {
		return false
	}
	if c.match == nil {
		c.match = newRcptMatch[struct{}]()
		for _, r := range c.rcpts {
			c.match.put(r.Addr, struct{}{})
		}
	}
	return c.match.twice[mailaddr.AddrKey(addr)]
}

// partialForDone writes, in the commit that drops the recipients done of
// m (dropFinished), the partial discard its sender's copy is owed for
// them: the copy keeps none of them for a takeover.
func (t *Tx) partialForDone(m *Message, done []Recipient, now time.Time) error {
	if len(done) == 0 || m.ShadowServer == "" || m.ShadowID == "" {
		return nil
	}
	addrs := make([]string, 0, len(done))
	for _, r := range done {
		addrs = append(addrs, r.Addr)
	}
	return t.AddPartialDiscard(m.ShadowServer, m.ShadowID, addrs, now)
}

// pruneFinished forgets up to limit records of recipients finished
// before cutoff.
func (t *Tx) pruneFinished(cutoff time.Time, limit int) (int, error) {
	b, at := t.tx.Bucket(bucketFinished), t.tx.Bucket(bucketFinishedAt)
	if b == nil || at == nil {
		return 0, nil
	}
	var old [][]byte
	c := at.Cursor()
	for k, _ := c.First(); k != nil && len(old) < limit; k, _ = c.Next() {
		if len(k) < 8 || !time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).Before(cutoff) {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := at.Delete(k); err != nil {
			return 0, err
		}
		if v := b.Get(k[8:]); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
			if err := b.Delete(k[8:]); err != nil {
				return 0, err
			}
		}
	}
	return len(old), nil
}
