package queue

import (
	"encoding/binary"
	"time"
)

// A message's receipt is a fact, never an operator's decision (ops48
// F1). Arrived and OrgEarlier are the clock its expiry and delay notice
// count from, and a release from an operator's hold moves that clock:
// `message resume` of a suspended or poison message takes the time held
// out of the age (resumedFromHold), the quarantine's release restarts
// it (releasedFromHold), a copy joined by a later push takes the push's
// age (renewCopyAge). The receipt does not move with it: the commit
// that first moves the clock keeps the receipt as it was — this
// server's (Received) and the organisation's (ReceivedEarlier before
// it) — in bucket received, in the same transaction:
//
//	received ID (8, BE) → arrived (8, BE unix nanoseconds) ‖ earlier (8, BE nanoseconds)
//
// Every reader that names when the message arrived reads it through
// ArrivedHere and OrgReceived: message show and list (AGE,
// --older-than), the delivery log's delay, tracking, the delivery
// latency histogram, a DSN's Arrival-Date, the receipt carried to the
// next umbra server (Carried: orgid.ReceivedHeader, which that server
// keeps as its record's receipt, settleArrival) and the dumpster's copy
// (dumpster.Copy, which a redelivery resubmits with that receipt kept).
// The expiry, the delay notice and the arrival carried beside it (the
// clock: orgid.ArrivedHeader) go on reading the clock, so a hold still
// does not age the message and a holder's copy expires with it. Put writes the entry of a record
// whose Received is set (a part split off the message carries it like
// any field), Delete removes it, a clock step moves it with Arrived. A
// crash leaves the moved clock and the kept receipt, or neither. A
// release an older release made kept no receipt: its records name the
// clock, as before. The bucket is made by the first such release.

// keepReceived notes m's receipt before a release moves its age's
// clock; a receipt noted by an earlier release stays.
func (m *Message) keepReceived() {
	if m.Received.IsZero() && !m.Arrived.IsZero() {
		m.Received, m.ReceivedEarlier = m.Arrived, m.OrgEarlier
	}
}

// ArrivedHere is when this server received m: Arrived, or the receipt
// kept when a release moved it (keepReceived).
func (m *Message) ArrivedHere() time.Time {
	if !m.Received.IsZero() {
		return m.Received
	}
	return m.Arrived
}

// OrgReceived is when the organisation first received m, as m arrived
// here: OrgArrived, unless a release moved the age's clock since.
func (m *Message) OrgReceived() time.Time {
	if !m.Received.IsZero() {
		return m.Received.Add(-m.ReceivedEarlier)
	}
	return m.OrgArrived()
}

// putReceived writes m's kept receipt, if any, beside its record.
func (t *Tx) putReceived(m *Message) error {
	if m.Received.IsZero() {
		return nil
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketReceived)
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(m.Received.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(m.ReceivedEarlier))
	return b.Put(m.ID.Key(), v)
}

// readReceived fills m's kept receipt from bucket received.
func (t *Tx) readReceived(m *Message) {
	if m == nil {
		return
	}
	b := t.tx.Bucket(bucketReceived)
	if b == nil {
		return
	}
	if v := b.Get(m.ID.Key()); len(v) == 16 {
		m.Received = time.Unix(0, int64(binary.BigEndian.Uint64(v[:8])))
		m.ReceivedEarlier = time.Duration(binary.BigEndian.Uint64(v[8:]))
	}
}

// forgetReceived deletes message id's kept receipt, if any.
func (t *Tx) forgetReceived(id ID) error {
	if b := t.tx.Bucket(bucketReceived); b != nil {
		return b.Delete(id.Key())
	}
	return nil
}
